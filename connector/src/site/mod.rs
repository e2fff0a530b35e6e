//! The `site` resource type: the Confluence site itself, one resource, whose entitlements are
//! the global permissions (who may use Confluence, who administers it, who may create spaces)
//! and whose grants are who holds them: users, groups (expanded to their members) and anonymous
//! access. [`SiteSyncer`] routes each verb to the module that does that job:
//!
//! - [`catalogue`]: the documented global permissions, names for reported ones, entitlements.
//! - [`read`]: reading who holds which, on versions with the REST API; "not available" otherwise.
//! - [`write`](mod@write): granting and revoking by read-modify-write of a subject's whole set,
//!   verified.
//! - [`guard`]: never leaving the site without a System Administrator who can act.
//!
//! On a Confluence without the API the site is not listed at all, so the file holds no
//! entitlements that would look like "nobody holds this".

pub mod catalogue;
pub mod guard;
pub mod read;
pub mod write;

use crate::directory::ids::SITE;
use crate::directory::profile::text;
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{
    Capability, ConnectorError, Entitlement, EntitlementPage, Grant, GrantPage, GrantResult, Resource, ResourceId, ResourcePage, ResourceType, RevokeOutcome,
    Status,
};

/// The one site resource's id: fixed, so grants keep their ids when the site's address changes.
pub const SITE_ID: &str = "confluence";

/// Lists the site, its global-permission entitlements and grants.
pub struct SiteSyncer;

impl ResourceSyncer for SiteSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: SITE.into(),
            display_name: "Site".into(),
            description: "The Confluence site: its global permissions (use, administration, space creation)".into(),
            traits: vec![],
            skip_entitlements_and_grants: false,
        }
    }

    fn list(&self, cx: &Context, _parent: Option<&ResourceId>, _token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        let items = match read::all(cx)? {
            Some(_) => vec![site(cx)],
            None => vec![],
        };
        Ok(ResourcePage { items, next_page_token: None })
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        if id.resource != SITE_ID {
            return Err(ConnectorError::NotFound(format!("there is one site, {SITE_ID:?}, not {:?}", id.resource)));
        }
        read::all(cx)?.ok_or_else(|| read::unavailable(cx))?;
        Ok(site(cx))
    }

    fn entitlements(&self, cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        let Some(held) = read::all(cx)? else { return Ok(EntitlementPage { items: vec![], next_page_token: None }) };
        let mut permissions = catalogue::documented();
        let reported: Vec<_> = held.permissions().into_iter().filter(|p| !permissions.iter().any(|d| d.slug == p.slug)).collect();
        permissions.extend(reported);
        Ok(EntitlementPage { items: permissions.iter().map(|p| catalogue::entitlement(resource, p)).collect(), next_page_token: None })
    }

    fn grants(&self, cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        read::grants(cx, &resource.id.resource)
    }

    fn grant(&self, cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
        write::grant(cx, entitlement, principal)
    }

    fn revoke(&self, cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        write::revoke(cx, grant)
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::Provision, Capability::TargetedSync]
    }
}

/// The site as a resource, named by its address when it is configured.
fn site(cx: &Context) -> Resource {
    let address = cx.options.base.as_ref().map(|b| format!("{}{}", b.root(), b.context_path));
    let mut profile = vec![text("id", SITE_ID)];
    profile.extend(address.as_deref().map(|a| text("base_url", a)));
    Resource {
        id: ResourceId { resource_type: SITE.into(), resource: SITE_ID.into() },
        parent: None,
        display_name: match &address {
            Some(address) => format!("Confluence ({address})"),
            None => "Confluence".into(),
        },
        description: "Global permissions: who may use Confluence, who administers it, who may create spaces".into(),
        status: Status::Unspecified,
        user: None,
        group: None,
        profile,
        external_link: cx.options.web_base.as_ref().map(|base| format!("{base}/admin/permissions/globalpermissions.action")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::groups::group_resource;
    use crate::kv::{KeyValue, MemoryKv};
    use crate::registry::tests::{connector, kv_with_version};
    use crate::settings::UserId;
    use crate::transport::{FakeTransport, Response};
    use crate::types::GrantOutcome;

    fn the_site() -> Resource {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]")]);
        let kv = kv_with_version("9.2.0");
        connector(&fake, &kv).list_resources(SITE, None, None).unwrap().items.remove(0)
    }

    fn entitlement(slug: &str) -> Entitlement {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]")]);
        let kv = kv_with_version("9.2.0");
        connector(&fake, &kv).list_entitlements(&the_site(), None).unwrap().items.into_iter().find(|e| e.slug == slug).unwrap()
    }

    fn ada() -> Resource {
        crate::directory::users::user_resource(serde_json::from_str(r#"{"username":"ada","userKey":"k1"}"#).unwrap(), UserId::Username, None).unwrap()
    }

    fn held(target: &str, operation: &str, subject: &str) -> String {
        format!(r#"{{"operation":{{"targetType":"{target}","operationKey":"{operation}"}},"subject":{subject}}}"#)
    }

    fn listing(items: &[String]) -> Response {
        FakeTransport::json(200, &format!("[{}]", items.join(",")))
    }

    const ADA: &str = r#"{"type":"user","userKey":"k1","displayName":"Ada"}"#;
    const DEVS: &str = r#"{"type":"group","name":"devs","displayName":"devs"}"#;

    fn body_of(fake: &FakeTransport, index: usize) -> serde_json::Value {
        serde_json::from_slice(fake.sent.borrow()[index].body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn before_9_2_the_site_is_not_listed_and_nothing_is_asked() {
        for version in ["7.19.0", "8.5.0", "9.1.0"] {
            let fake = FakeTransport::default();
            let kv = kv_with_version(version);
            let c = connector(&fake, &kv);
            assert!(c.list_resources(SITE, None, None).unwrap().items.is_empty(), "{version}");
            assert!(c.list_grants(&the_site(), None).unwrap().items.is_empty(), "{version}");
            assert!(c.list_entitlements(&the_site(), None).unwrap().items.is_empty(), "{version}: no entitlements pretending to be data");
            assert!(fake.sent_paths().is_empty(), "{version}");
            assert_eq!(kv.get("global-permissions-unavailable-logged").as_deref(), Some("1"), "{version}: logged (once)");
            assert!(matches!(c.grant(&entitlement("use"), &ada()), Err(ConnectorError::Unimplemented(_))), "{version}");
        }
    }

    #[test]
    fn a_later_version_that_answers_not_found_is_taken_at_its_word() {
        let fake = FakeTransport::new(vec![FakeTransport::json(404, r#"{"statusCode":404,"message":"null for uri"}"#)]);
        let kv = kv_with_version("9.2.0");
        assert!(connector(&fake, &kv).list_resources(SITE, None, None).unwrap().items.is_empty());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions"]);
    }

    #[test]
    fn a_non_administrator_is_told_what_reading_them_needs() {
        let fake = FakeTransport::new(vec![FakeTransport::json(403, r#"{"statusCode":403,"message":"Not permitted"}"#)]);
        let kv = kv_with_version("10.2.0");
        let err = connector(&fake, &kv).list_resources(SITE, None, None).unwrap_err();
        assert!(matches!(&err, ConnectorError::PermissionDenied(m) if m.contains("administrator")), "{err:?}");
    }

    #[test]
    fn grants_read_every_subject_shape_and_count_what_they_cannot_attribute() {
        let body = [
            held("application", "use", ADA),
            held("application", "use", ADA),
            held("system", "administer", r#"{"type":"user","username":"grace"}"#),
            held("application", "administer", r#"{"type":"user","name":"linus"}"#),
            held("space", "create", DEVS),
            held("personal_space", "create", r#"{"type":"group","groupName":"ops"}"#),
            held("application", "use", r#"{"type":"group","displayName":"team/alpha"}"#),
            held("application", "use", r#"{"type":"anonymous","displayName":"Anonymous"}"#),
            held("application", "use", r#"{"type":"user","displayName":"Nameless"}"#),
            held("application", "use", r#"{"type":"unlicensed"}"#),
            held("user_profile", "view", DEVS),
            r#"{"subject":{"type":"user","userKey":"k1"}}"#.to_string(),
        ];
        let fake = FakeTransport::new(vec![listing(&body)]);
        let kv = kv_with_version("9.2.0");
        kv.set("user-key:k1", "ada");
        let grants = connector(&fake, &kv).list_grants(&the_site(), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "site:confluence:administer:user:linus",
                "site:confluence:create-personal-space:group:ops",
                "site:confluence:create-space:group:devs",
                "site:confluence:system-administer:user:grace",
                "site:confluence:use:anonymous:anonymous",
                "site:confluence:use:group:team/alpha",
                "site:confluence:use:user:ada",
                "site:confluence:user-profile-view:group:devs",
            ]
        );
        let devs = grants.iter().find(|g| g.id == "site:confluence:create-space:group:devs").unwrap();
        assert_eq!(devs.expansion.as_ref().unwrap().entitlement_ids, vec!["group:devs:member"], "a group's grant expands to its members");
        assert!(grants.iter().filter(|g| g.principal.resource_type != "group").all(|g| g.expansion.is_none()));
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions"], "the userKey was known from listing users");
    }

    #[test]
    fn a_paged_listing_is_followed_to_its_end() {
        let page = |items: &[String], next: &str| FakeTransport::json(200, &format!(r#"{{"results":[{}],"_links":{{{next}}}}}"#, items.join(",")));
        let fake = FakeTransport::new(vec![
            page(&[held("application", "use", DEVS)], r#""next":"/rest/api/permissions?start=1&limit=1""#),
            page(&[held("space", "create", DEVS)], ""),
        ]);
        let kv = kv_with_version("10.2.0");
        let grants = connector(&fake, &kv).list_grants(&the_site(), None).unwrap().items;
        assert_eq!(grants.len(), 2);
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions", "/rest/api/permissions?start=1&limit=1"]);
    }

    #[test]
    fn entitlements_are_the_documented_five_plus_what_the_server_reports_with_privilege_marked() {
        let fake = FakeTransport::new(vec![listing(&[held("user_profile", "view", DEVS), held("application", "use", DEVS)])]);
        let kv = kv_with_version("9.2.0");
        let site = the_site();
        let ents = connector(&fake, &kv).list_entitlements(&site, None).unwrap().items;
        let slugs: Vec<&str> = ents.iter().map(|e| e.slug.as_str()).collect();
        assert_eq!(slugs, vec!["use", "administer", "system-administer", "create-space", "create-personal-space", "user-profile-view"]);
        let by = |slug: &str| ents.iter().find(|e| e.slug == slug).unwrap();
        assert_eq!(by("system-administer").id, "site:confluence:system-administer");
        for privileged in ["administer", "system-administer"] {
            assert!(by(privileged).display_name.starts_with("Privileged: ") && by(privileged).description.starts_with("Privileged: "), "{privileged}");
        }
        for plain in ["use", "create-space", "create-personal-space", "user-profile-view"] {
            assert!(!by(plain).description.contains("Privileged"), "{plain}");
        }
        assert_eq!(by("use").grantable_to, vec!["user", "group", "anonymous"]);
        assert_eq!(by("administer").grantable_to, vec!["user", "group"]);
    }

    #[test]
    fn granting_writes_the_groups_whole_set_plus_one_and_verifies_it() {
        let fake = FakeTransport::new(vec![
            listing(&[held("application", "use", DEVS), held("user_profile", "view", DEVS)]),
            FakeTransport::json(204, ""),
            listing(&[held("application", "use", DEVS), held("space", "create", DEVS), held("user_profile", "view", DEVS)]),
        ]);
        let kv = kv_with_version("9.2.0");
        let result = connector(&fake, &kv).grant(&entitlement("create-space"), &group_resource("devs")).unwrap();
        assert_eq!(result.outcome, GrantOutcome::Granted);
        assert_eq!(result.grants[0].id, "site:confluence:create-space:group:devs");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions/group/devs", "/rest/api/permissions", "/rest/api/permissions/group/devs"]);
        assert_eq!(
            body_of(&fake, 1),
            serde_json::json!([{"groupName": "devs", "operations": [
                {"targetType": "application", "operationKey": "use"},
                {"targetType": "space", "operationKey": "create"},
                {"targetType": "user_profile", "operationKey": "view"}
            ]}]),
            "every operation the group held is written back, plus the one granted"
        );
    }

    #[test]
    fn granting_what_is_held_sends_nothing() {
        let fake = FakeTransport::new(vec![listing(&[held("application", "use", ADA)])]);
        let kv = kv_with_version("9.2.0");
        kv.set("username:ada", "k1");
        assert_eq!(connector(&fake, &kv).grant(&entitlement("use"), &ada()).unwrap().outcome, GrantOutcome::AlreadyGranted);
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions"]);
    }

    #[test]
    fn revoking_from_a_user_writes_the_rest_of_their_set_by_user_key() {
        let before = [held("application", "use", ADA), held("personal_space", "create", ADA), held("space", "create", DEVS)];
        let after = [held("application", "use", ADA), held("space", "create", DEVS)];
        let fake = FakeTransport::new(vec![listing(&before), FakeTransport::json(200, "{}"), listing(&after)]);
        let kv = kv_with_version("9.2.0");
        kv.set("username:ada", "k1");
        let grant = read::site_grant(SITE_ID, &catalogue::of_pair("personal_space", "create"), ada().id);
        assert_eq!(connector(&fake, &kv).revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        assert_eq!(body_of(&fake, 1), serde_json::json!([{"userKey": "k1", "operations": [{"targetType": "application", "operationKey": "use"}]}]));
    }

    #[test]
    fn nothing_is_sent_when_the_current_set_cannot_be_read() {
        let kv = kv_with_version("9.2.0");
        kv.set("username:ada", "k1");
        // The listing names users only by display name: ada's set is unknown.
        let fake = FakeTransport::new(vec![listing(&[held("application", "use", r#"{"type":"user","displayName":"Ada"}"#)])]);
        let err = connector(&fake, &kv).grant(&entitlement("create-space"), &ada()).unwrap_err();
        assert!(matches!(&err, ConnectorError::Unimplemented(m) if m.contains("display name") && m.contains("nothing was changed")), "{err:?}");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions"]);
        // The listing fails.
        let fake = FakeTransport::new(vec![FakeTransport::json(500, r#"{"message":"boom"}"#)]);
        assert!(connector(&fake, &kv).grant(&entitlement("create-space"), &group_resource("devs")).is_err());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/permissions/group/devs"]);
        // Anonymous access: the write cannot name it.
        let fake = FakeTransport::default();
        let anonymous = crate::registry::tests::connector(&fake, &kv).get_resource(&crate::directory::ids::anonymous_id(), None).unwrap();
        let err = connector(&fake, &kv).grant(&entitlement("use"), &anonymous).unwrap_err();
        assert!(matches!(&err, ConnectorError::Unimplemented(m) if m.contains("anonymous")), "{err:?}");
        assert!(fake.sent_paths().is_empty());
    }

    #[test]
    fn a_write_confluence_does_not_keep_is_an_error() {
        let fake = FakeTransport::new(vec![listing(&[]), FakeTransport::json(204, ""), listing(&[])]);
        let kv = kv_with_version("9.2.0");
        let err = connector(&fake, &kv).grant(&entitlement("use"), &group_resource("devs")).unwrap_err();
        assert!(matches!(&err, ConnectorError::Internal(m) if m.contains("now reports none instead of application/use")), "{err:?}");
    }

    /// A user lookup answer with a status (absent: not reported).
    fn user_with_status(username: &str, status: Option<&str>) -> crate::transport::Response {
        let status = status.map(|s| format!(r#","status":"{s}""#)).unwrap_or_default();
        FakeTransport::json(200, &format!(r#"{{"type":"known","username":"{username}","userKey":"k-{username}"{status}}}"#))
    }

    fn members(statuses: &[Option<&str>], next: Option<&str>) -> crate::transport::Response {
        let items: Vec<String> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| format!(r#"{{"username":"m{i}"{}}}"#, s.map(|s| format!(r#","status":"{s}""#)).unwrap_or_default()))
            .collect();
        let next = next.map(|n| format!(r#""next":"{n}""#)).unwrap_or_default();
        FakeTransport::json(200, &format!(r#"{{"results":[{}],"_links":{{{next}}}}}"#, items.join(",")))
    }

    /// Revokes ada's System Administrator where `others` hold it too, the guard's reads answered
    /// by `answers`: the outcome, what was sent.
    fn revoke_sysadmin(others: &[&str], answers: Vec<crate::transport::Response>, version: &str) -> (Result<RevokeOutcome, ConnectorError>, Vec<String>) {
        let sysadmin = |subject: &str| held("system", "administer", subject);
        let mut all = vec![sysadmin(ADA)];
        all.extend(others.iter().map(|o| sysadmin(o)));
        let mut responses = vec![listing(&all), listing(&all)];
        responses.extend(answers);
        responses.extend([FakeTransport::json(204, ""), listing(&all[1..])]);
        let fake = FakeTransport::new(responses);
        let kv = kv_with_version(version);
        kv.set("username:ada", "k1");
        let grant = read::site_grant(SITE_ID, &catalogue::of_pair("system", "administer"), ada().id);
        let outcome = connector(&fake, &kv).revoke(&grant);
        (outcome, fake.sent_paths())
    }

    fn refused(outcome: &Result<RevokeOutcome, ConnectorError>, why: &str) -> bool {
        matches!(outcome, Err(ConnectorError::InvalidArgument(m)) if m.contains("without a System Administrator who can act") && m.contains(why))
    }

    const WRITE: &str = "/rest/api/permissions";

    #[test]
    fn the_last_system_administrator_who_can_act_keeps_the_permission() {
        let other = r#"{"type":"user","userKey":"k2"}"#;
        let group = r#"{"type":"group","name":"sysadmins"}"#;
        let lookup = "/rest/api/user?key=k2&expand=status";
        let group_page = "/rest/api/group/sysadmins/member?limit=1000&start=0&expand=status";

        // Alone: refused, nothing written.
        let (outcome, sent) = revoke_sysadmin(&[], vec![], "9.2.0");
        assert!(refused(&outcome, "nobody else holds it"), "{outcome:?}");
        assert_eq!(sent, vec![WRITE, WRITE]);

        // Another user who is deactivated, unlicensed, gone, or whose status is not reported: refused.
        for (answer, why) in [
            (user_with_status("grace", Some("deactivated")), "user grace is deactivated"),
            (user_with_status("grace", Some("unlicensed")), "user grace is unlicensed"),
            (user_with_status("grace", Some("externally_deleted")), "user grace is externally_deleted"),
            (user_with_status("grace", None), "does not report whether user grace is active"),
            (FakeTransport::json(404, "{}"), "unknown to Confluence"),
        ] {
            let (outcome, sent) = revoke_sysadmin(&[other], vec![answer], "9.2.0");
            assert!(refused(&outcome, why), "{why}: {outcome:?}");
            assert_eq!(sent, vec![WRITE, WRITE, lookup], "{why}: nothing written");
        }
        // A username subject is looked up by username.
        let (outcome, sent) = revoke_sysadmin(&[r#"{"type":"user","username":"grace"}"#], vec![user_with_status("grace", Some("current"))], "9.2.0");
        assert_eq!(outcome.unwrap(), RevokeOutcome::Revoked);
        assert_eq!(sent[2], "/rest/api/user?username=grace&expand=status");

        // A group without members, or whose members are all deactivated or unreported: refused.
        for (answer, why) in [
            (members(&[], None), "group sysadmins has no members"),
            (members(&[Some("deactivated"), Some("unlicensed")], None), "group sysadmins has no active member"),
            (members(&[Some("deactivated"), None], None), "does not report whether 1 of its 2 members are active"),
            (FakeTransport::json(404, "{}"), "group sysadmins has no members"),
        ] {
            let (outcome, sent) = revoke_sysadmin(&[group], vec![answer], "9.2.0");
            assert!(refused(&outcome, why), "{why}: {outcome:?}");
            assert_eq!(sent, vec![WRITE, WRITE, group_page], "{why}");
        }

        // An active user, beside a deactivated one: the revoke goes ahead.
        let (outcome, sent) = revoke_sysadmin(
            &[r#"{"type":"user","userKey":"k3"}"#, other],
            vec![user_with_status("zoe", Some("deactivated")), user_with_status("grace", Some("Current"))],
            "9.2.0",
        );
        assert_eq!(outcome.unwrap(), RevokeOutcome::Revoked);
        assert_eq!(sent[2..4], ["/rest/api/user?key=k3&expand=status", lookup]);
        assert_eq!(sent[4], WRITE, "then written");

        // A group whose active member is on its second page: the revoke goes ahead.
        let next = "/rest/api/group/sysadmins/member?limit=1000&start=2&expand=status";
        let (outcome, sent) =
            revoke_sysadmin(&[group], vec![members(&[Some("deactivated"), Some("deactivated")], Some(next)), members(&[Some("current")], None)], "9.2.0");
        assert_eq!(outcome.unwrap(), RevokeOutcome::Revoked);
        assert_eq!(sent[2..4], [group_page, next]);
    }

    #[test]
    fn the_guard_reads_no_more_than_its_bound_and_refuses_what_it_cannot_address() {
        // A thousand inactive members and more pages: refused without reading on.
        let next = "/rest/api/group/sysadmins/member?limit=1000&start=1000&expand=status";
        let inactive = vec![Some("deactivated"); guard::MEMBERS_EXAMINED];
        let (outcome, sent) = revoke_sysadmin(&[r#"{"type":"group","name":"sysadmins"}"#], vec![members(&inactive, Some(next))], "9.2.0");
        assert!(refused(&outcome, "none of its first 1000 members is active"), "{outcome:?}");
        assert_eq!(sent.len(), 3, "one page read: {sent:?}");

        // A group name no path can carry: the query endpoint on 10.2+, refused before.
        let slashed = r#"{"type":"group","name":"team/ops"}"#;
        let (outcome, sent) = revoke_sysadmin(&[slashed], vec![], "9.2.0");
        assert!(refused(&outcome, "cannot be read on this version"), "{outcome:?}");
        assert_eq!(sent.len(), 2);
        let (outcome, sent) = revoke_sysadmin(&[slashed], vec![members(&[Some("current")], None)], "10.2.0");
        assert_eq!(outcome.unwrap(), RevokeOutcome::Revoked);
        assert_eq!(sent[2], "/rest/api/group/member?groupName=team%2Fops&limit=1000&start=0&expand=status");
    }

    #[test]
    fn the_one_site_is_found_and_others_are_not() {
        let fake = FakeTransport::new(vec![listing(&[])]);
        let kv = MemoryKv::default();
        kv.set("server-version", "10.2.0");
        let c = connector(&fake, &kv);
        assert_eq!(c.get_resource(&ResourceId { resource_type: SITE.into(), resource: SITE_ID.into() }, None).unwrap().id.resource, "confluence");
        assert!(matches!(c.get_resource(&ResourceId { resource_type: SITE.into(), resource: "other".into() }, None), Err(ConnectorError::NotFound(_))));
    }
}
