"""A baton connector written in Python: users, groups and roles of an HTTP JSON directory service.

It implements the `baton:connector` contract (wit/connector.wit) and is built into a WebAssembly
component with componentize-py; the host runs it exactly as it runs the Confluence connector.
The service's API is in README.md. Ids follow baton's conventions: an entitlement is
`<type>:<id>:<slug>`, a grant is `<entitlement>:<principal type>:<principal id>`.
"""

import json
from urllib.parse import quote

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import baton_connector_types as t
from wit_world.imports import config, log

from http_client import TransportError, send

API = "/api/v1"
PAGE_SIZE = 50
# A set of users per resource type: its API collection, its entitlement's slug, and what people call it.
SETS = {
    "group": ("groups", "members", "member", "Member"),
    "role": ("roles", "holders", "assigned", "Assigned"),
}


def fail(case, message):
    raise Err(case(message))


def error_for(status, what, body):
    """The contract's error for an HTTP status (the host retries 429 and 503 itself)."""
    detail = f"{what}: HTTP {status} {body[:200].decode(errors='replace')}"
    if status == 401:
        return t.ConnectorError_Unauthenticated(detail)
    if status == 403:
        return t.ConnectorError_PermissionDenied(detail)
    if status == 404:
        return t.ConnectorError_NotFound(detail)
    if status == 429:
        return t.ConnectorError_RateLimited(t.RateLimit(retry_after_ms=1000, message=detail))
    if status >= 500:
        return t.ConnectorError_Unavailable(detail)
    return t.ConnectorError_Internal(detail)


def call(method, path):
    """Sends a request to the configured service; (status, body). Raises the contract's errors."""
    url = config.get("base-url").rstrip("/") + API + path
    try:
        return send(method, url, [("accept", "application/json")])
    except TransportError as error:
        fail(t.ConnectorError_Unavailable, f"{method} {path}: {error.args[0]!r}")


def get_json(path):
    status, body = call("GET", path)
    if status != 200:
        raise Err(error_for(status, f"GET {path}", body))
    return json.loads(body)


def get_page(path, page_token):
    """One page of a listing; (items, the next page's token or None)."""
    offset = int(page_token or 0)
    separator = "&" if "?" in path else "?"
    answer = get_json(f"{path}{separator}offset={offset}&limit={PAGE_SIZE}")
    following = answer.get("next_offset")
    return answer["items"], (str(following) if following is not None else None)


def segment(text):
    return quote(text, safe="")


def user_resource(user):
    status = t.Status.ENABLED if user["active"] else t.Status.DISABLED
    return t.Resource(
        id=t.ResourceId(resource_type="user", resource=user["id"]),
        parent=None,
        display_name=user["name"],
        description="",
        status=status,
        user=t.UserTrait(login=user["login"], emails=[t.Email(address=user["email"], is_primary=True)], status=status, account_type=t.AccountType.HUMAN),
        group=None,
        profile=[t.ProfileField(key="login", value=t.ProfileValue_Text(user["login"]))],
        external_link=None,
    )


def set_resource(resource_type, item):
    return t.Resource(
        id=t.ResourceId(resource_type=resource_type, resource=item["id"]),
        parent=None,
        display_name=item["name"],
        description="",
        status=t.Status.ENABLED,
        user=None,
        group=t.GroupTrait(source="directory") if resource_type == "group" else None,
        profile=[],
        external_link=None,
    )


def set_entitlement(resource_id):
    _, _, slug, name = SETS[resource_id.resource_type]
    return t.Entitlement(
        id=f"{resource_id.resource_type}:{resource_id.resource}:{slug}",
        resource=resource_id,
        slug=slug,
        display_name=f"{name} of {resource_id.resource}",
        description="",
        purpose=t.Purpose.ASSIGNMENT,
        grantable_to=["user"],
    )


def grant_of(entitlement, user_id):
    return t.Grant(
        id=f"{entitlement.id}:user:{user_id}",
        entitlement_id=entitlement.id,
        entitlement_resource=entitlement.resource,
        principal=t.ResourceId(resource_type="user", resource=user_id),
        expansion=None,
    )


def users_path(resource_id):
    collection, users, _, _ = SETS[resource_id.resource_type]
    return f"/{collection}/{segment(resource_id.resource)}/{users}"


class Connector(exports.Connector):
    def get_metadata(self):
        change = [t.EgressRule(method=m, path=f"{API}/{collection}/*/{users}/*", access=t.EgressAccess.CHANGE)
                  for collection, users, _, _ in SETS.values() for m in ("PUT", "DELETE")]
        return t.Metadata(
            display_name="Directory (Python example)",
            description="Users, groups and roles of an HTTP JSON directory service; written in Python",
            config=[
                t.ConfigField(name="base-url", description="Base URL of the directory service", kind=t.FieldKind.URL, required=True, secret=False, default_value=None, choices=[]),
                t.ConfigField(name="access-token", description="API token of the directory service", kind=t.FieldKind.TEXT, required=True, secret=True, default_value=None, choices=[]),
            ],
            rules=[],
            auth=t.Auth(origin_field="base-url", schemes=[t.AuthScheme_Bearer("access-token")]),
            capabilities=[
                t.ResourceTypeCapability(resource_type_id="user", capabilities=[t.Capability.SYNC, t.Capability.TARGETED_SYNC]),
                t.ResourceTypeCapability(resource_type_id="group", capabilities=[t.Capability.SYNC, t.Capability.PROVISION]),
                t.ResourceTypeCapability(resource_type_id="role", capabilities=[t.Capability.SYNC, t.Capability.PROVISION]),
            ],
            egress=change,
        )

    def validate(self):
        items, _ = get_page("/users", None)
        return f"the directory at {config.get('base-url')} answers ({len(items)} users on its first page)"

    def resource_types(self):
        return [
            t.ResourceType(id="user", display_name="User", description="People with an account", traits=[t.ResourceTrait.USER], skip_entitlements_and_grants=True),
            t.ResourceType(id="group", display_name="Group", description="Groups of users", traits=[t.ResourceTrait.GROUP], skip_entitlements_and_grants=False),
            t.ResourceType(id="role", display_name="Role", description="Roles held by users", traits=[t.ResourceTrait.ROLE], skip_entitlements_and_grants=False),
        ]

    def list_resources(self, resource_type_id, parent, page_token):
        if resource_type_id == "user":
            items, following = get_page("/users", page_token)
            return t.ResourcePage(items=[user_resource(user) for user in items], next_page_token=following)
        if resource_type_id in SETS:
            items, following = get_page(f"/{SETS[resource_type_id][0]}", page_token)
            return t.ResourcePage(items=[set_resource(resource_type_id, item) for item in items], next_page_token=following)
        fail(t.ConnectorError_InvalidArgument, f"no resource type {resource_type_id!r}")

    def get_resource(self, id, parent):
        if id.resource_type != "user":
            fail(t.ConnectorError_Unimplemented, f"single lookups of {id.resource_type} resources")
        return user_resource(get_json(f"/users/{segment(id.resource)}"))

    def list_entitlements(self, resource, page_token):
        if resource.id.resource_type not in SETS:
            return t.EntitlementPage(items=[], next_page_token=None)
        return t.EntitlementPage(items=[set_entitlement(resource.id)], next_page_token=None)

    def list_grants(self, resource, page_token):
        if resource.id.resource_type not in SETS:
            return t.GrantPage(items=[], next_page_token=None)
        entitlement = set_entitlement(resource.id)
        user_ids, following = get_page(users_path(resource.id), page_token)
        return t.GrantPage(items=[grant_of(entitlement, user_id) for user_id in user_ids], next_page_token=following)

    def grant_entitlement(self, entitlement, principal):
        resource_id = entitlement.resource
        if resource_id.resource_type not in SETS or principal.id.resource_type != "user":
            fail(t.ConnectorError_InvalidArgument, f"{entitlement.id} is not grantable to {principal.id.resource_type}")
        path = f"{users_path(resource_id)}/{segment(principal.id.resource)}"
        status, body = call("PUT", path)
        if status not in (200, 201):
            raise Err(error_for(status, f"PUT {path}", body))
        outcome = t.GrantOutcome.GRANTED if status == 201 else t.GrantOutcome.ALREADY_GRANTED
        log.write(log.Level.INFO, "granted", [("entitlement", entitlement.id), ("user", principal.id.resource)])
        return t.GrantResult(outcome=outcome, grants=[grant_of(set_entitlement(resource_id), principal.id.resource)])

    def revoke_grant(self, grant):
        resource_id = grant.entitlement_resource
        if resource_id.resource_type not in SETS:
            fail(t.ConnectorError_InvalidArgument, f"grant {grant.id} is not of a group or a role")
        path = f"{users_path(resource_id)}/{segment(grant.principal.resource)}"
        status, body = call("DELETE", path)
        if status not in (200, 204):
            raise Err(error_for(status, f"DELETE {path}", body))
        return t.RevokeOutcome.REVOKED if status == 204 else t.RevokeOutcome.ALREADY_REVOKED

    def create_account(self, account):
        fail(t.ConnectorError_Unimplemented, "this directory's accounts are created by its administrators")
