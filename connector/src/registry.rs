//! The registry: the [`Connector`] that holds one [`ResourceSyncer`] per Confluence resource type
//! (users first: later types use what listing users stores) and routes the world's calls to
//! them, plus the calls no resource type owns (metadata, validate). An unknown resource type is
//! `not-found`; like baton-sdk's connectorbuilder, a resource type registered twice is an error
//! (`internal`, when it is called), and a test keeps the real registry free of that.

use crate::anonymous::AnonymousSyncer;
use crate::client::Client;
use crate::directory::ids::USER;
use crate::group::GroupSyncer;
use crate::kv::KeyValue;
use crate::settings::{self, Options};
use crate::site::SiteSyncer;
use crate::space::SpaceSyncer;
use crate::syncer::{Context, ResourceSyncer};
use crate::transport::Transport;
use crate::types::{
    AccountInfo, ConnectorError, CreateAccountOutcome, Entitlement, EntitlementPage, Grant, GrantPage, GrantResult, Metadata, Resource, ResourceId,
    ResourcePage, ResourceType, ResourceTypeCapability, RevokeOutcome,
};
use crate::user::UserSyncer;
use serde::Deserialize;

/// The Confluence connector: the registered syncers over one transport and store.
pub struct Connector<'t> {
    cx: Context<'t>,
    syncers: Vec<Box<dyn ResourceSyncer>>,
}

impl<'t> Connector<'t> {
    /// The connector with every resource type registered.
    pub fn new(transport: &'t dyn Transport, kv: &'t dyn KeyValue, options: Options) -> Connector<'t> {
        Connector::with_syncers(transport, kv, options, all_syncers())
    }

    fn with_syncers(transport: &'t dyn Transport, kv: &'t dyn KeyValue, options: Options, syncers: Vec<Box<dyn ResourceSyncer>>) -> Connector<'t> {
        Connector { cx: Context { client: Client::new(transport), kv, options }, syncers }
    }

    /// The declared schema, auth and capabilities (no requests made).
    pub fn metadata() -> Metadata {
        let capabilities =
            all_syncers().iter().map(|s| ResourceTypeCapability { resource_type_id: s.resource_type().id, capabilities: s.capabilities() }).collect();
        settings::metadata(capabilities)
    }

    /// Checks the credentials (they must act as a known, not anonymous, user) and detects the
    /// server version.
    pub fn validate(&self) -> Result<String, ConnectorError> {
        let me: CurrentUser = match self.cx.client.get_json(CURRENT_USER) {
            Err(ConnectorError::NotFound(answered)) => return Err(self.base_url_advice(answered)),
            other => other?,
        };
        if me.kind.as_deref() != Some("known") || me.user_key.as_deref().unwrap_or("").is_empty() {
            return Err(ConnectorError::Unauthenticated(
                "Confluence treated the request as anonymous (GET /rest/api/user/current answered type \"anonymous\"): the credentials were not accepted; check the access token or username and password".into(),
            ));
        }
        let version = self.cx.version()?;
        let username = me.username.unwrap_or_default();
        Ok(format!("authenticated as {username} ({}) on Confluence {version}", me.display_name.unwrap_or_else(|| username.clone())))
    }

    /// A 404 for the current user means the base URL does not lead to Confluence's REST API:
    /// most often a missing or extra context path. Without one, the usual context paths are
    /// tried (they are under the configured base URL); with one, dropping it is suggested but
    /// not tried (nothing is sent outside the configured base URL).
    fn base_url_advice(&self, answered: String) -> ConnectorError {
        let Some(base) = &self.cx.options.base else { return ConnectorError::NotFound(answered) };
        let root = base.root();
        if !base.context_path.is_empty() {
            return ConnectorError::InvalidArgument(format!(
                "{answered}: the base URL's context path {} may be wrong; if Confluence runs at the root of {}, use {root} as the hostname (not tried: nothing is sent outside the configured base URL)",
                base.context_path, base.authority
            ));
        }
        match LIKELY_CONTEXT_PATHS.iter().find(|path| self.answers_as_confluence(&format!("{path}{CURRENT_USER}"))) {
            Some(path) => {
                ConnectorError::InvalidArgument(format!("{answered}: Confluence answers under the context path {path}: use {root}{path} as the hostname"))
            }
            None => ConnectorError::InvalidArgument(format!(
                "{answered}: {root} does not lead to Confluence's REST API; if Confluence runs under a context path, add it to the hostname ({} were tried and are not it)",
                LIKELY_CONTEXT_PATHS.join(" and ")
            )),
        }
    }

    /// Whether `path` is answered as Confluence answers the current user (a user, or a refusal
    /// of the credentials), not with a 404 or a failure.
    fn answers_as_confluence(&self, path: &str) -> bool {
        match self.cx.client.get_json::<CurrentUser>(path) {
            Ok(_) => true,
            Err(ConnectorError::Unauthenticated(_) | ConnectorError::PermissionDenied(_)) => true,
            Err(_) => false,
        }
    }

    /// The resource types, in registration order (users first: later types use what listing
    /// users stores). Needs no configuration.
    pub fn all_resource_types() -> Vec<ResourceType> {
        all_syncers().iter().map(|s| s.resource_type()).collect()
    }

    pub fn list_resources(&self, type_id: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        self.syncer(type_id)?.list(&self.cx, parent, token)
    }

    pub fn get_resource(&self, id: &ResourceId, parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        self.syncer(&id.resource_type)?.get(&self.cx, id, parent)
    }

    pub fn list_entitlements(&self, resource: &Resource, token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        self.syncer(&resource.id.resource_type)?.entitlements(&self.cx, resource, token)
    }

    pub fn list_grants(&self, resource: &Resource, token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        self.syncer(&resource.id.resource_type)?.grants(&self.cx, resource, token)
    }

    pub fn grant(&self, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
        self.syncer(&entitlement.resource.resource_type)?.grant(&self.cx, entitlement, principal)
    }

    pub fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        self.syncer(&grant.entitlement_resource.resource_type)?.revoke(&self.cx, grant)
    }

    /// Creates an account (of the `user` type unless another is named).
    pub fn create_account(&self, account: &AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        let type_id = if account.resource_type_id.is_empty() { USER } else { account.resource_type_id.as_str() };
        self.syncer(type_id)?.create_account(&self.cx, account)
    }

    /// The one syncer registered for a type.
    fn syncer(&self, type_id: &str) -> Result<&dyn ResourceSyncer, ConnectorError> {
        let mut registered = self.syncers.iter().filter(|s| s.resource_type().id == type_id);
        match (registered.next(), registered.next()) {
            (Some(syncer), None) => Ok(syncer.as_ref()),
            (None, _) => Err(ConnectorError::NotFound(format!("unknown resource type {type_id:?}"))),
            (Some(_), Some(_)) => Err(ConnectorError::Internal(format!("resource type {type_id:?} is registered more than once"))),
        }
    }
}

/// Every syncer, in sync order.
fn all_syncers() -> Vec<Box<dyn ResourceSyncer>> {
    vec![Box::new(UserSyncer), Box::new(AnonymousSyncer), Box::new(GroupSyncer), Box::new(SpaceSyncer), Box::new(SiteSyncer)]
}

/// Who the credentials act as: the first request of every run.
const CURRENT_USER: &str = "/rest/api/user/current";

/// Context paths Confluence is commonly deployed under, tried when the base URL has none and
/// the REST API is not at its root.
const LIKELY_CONTEXT_PATHS: [&str; 2] = ["/confluence", "/wiki"];

/// The fields of `/rest/api/user/current` that validation reads.
#[derive(Deserialize)]
struct CurrentUser {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "userKey")]
    user_key: Option<String>,
    username: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::transport::FakeTransport;

    /// A connector over a fake transport and an in-memory store, with default options but the
    /// January 2025 profile, in whose ids (users by username, `view`-style slugs) the mapping
    /// tests are written; the newest profile's ids have tests of their own.
    pub fn connector<'a>(fake: &'a FakeTransport, kv: &'a MemoryKv) -> Connector<'a> {
        Connector::new(fake, kv, january_2025())
    }

    /// Default options under the January 2025 profile.
    pub fn january_2025() -> Options {
        let compat = crate::settings::Compat::Go202501;
        Options { compat, user_id: compat.user_id(), ..Options::default() }
    }

    /// A store that already knows the server version, so no detection requests are made.
    pub fn kv_with_version(version: &str) -> MemoryKv {
        let kv = MemoryKv::default();
        kv.set("server-version", version);
        kv
    }

    mod properties {
        use super::*;
        use crate::types::{Resource, ResourceId, Status};
        use proptest::prelude::*;

        /// JSON a hostile or broken server could answer: objects with the fields the mappers
        /// read, holding values of any type, nested in the page envelope or not.
        fn answer() -> impl Strategy<Value = String> {
            let scalar = prop_oneof![
                Just("null".to_string()),
                Just("true".to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                Just("[]".to_string()),
                Just("{}".to_string()),
            ];
            let field = (
                prop::sample::select(vec![
                    "username",
                    "userKey",
                    "displayName",
                    "status",
                    "type",
                    "name",
                    "key",
                    "email",
                    "results",
                    "next",
                    "_links",
                    "permissions",
                    "operation",
                    "subjects",
                ]),
                scalar,
            );
            let object = proptest::collection::vec(field, 0..6)
                .prop_map(|fields| format!("{{{}}}", fields.iter().map(|(k, v)| format!("{:?}:{v}", k)).collect::<Vec<_>>().join(",")));
            prop_oneof![
                proptest::collection::vec(object.clone(), 0..4)
                    .prop_map(|items| format!(r#"{{"results":[{}],"_links":{{"next":"/rest/api/x?start=5"}}}}"#, items.join(","))),
                object,
                "\\PC{0,40}",
            ]
        }

        fn resource(resource_type: &str, id: &str) -> Resource {
            Resource {
                id: ResourceId { resource_type: resource_type.into(), resource: id.into() },
                parent: None,
                display_name: id.into(),
                description: String::new(),
                status: Status::Unspecified,
                user: None,
                group: None,
                profile: vec![],
                external_link: None,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// Every list, lookup and grant mapping answers anything a server sends with a
            /// result or a typed error, on every version, never a panic.
            #[test]
            fn mappers_survive_any_answer(answers in proptest::collection::vec((prop::sample::select(vec![200u16, 200, 200, 404, 500]), answer()), 1..6), version in prop::sample::select(vec!["7.19.0", "8.5.0", "9.2.0", "10.2.0"])) {
                let responses = || answers.iter().map(|(status, body)| FakeTransport::json(*status, body)).collect::<Vec<_>>();
                for call in 0..8 {
                    let fake = FakeTransport::new(responses());
                    let kv = kv_with_version(version);
                    let c = connector(&fake, &kv);
                    let _ = match call {
                        0 => c.list_resources("user", None, None).map(drop),
                        1 => c.list_resources("group", None, None).map(drop),
                        2 => c.list_resources("space", None, None).map(drop),
                        3 => c.list_grants(&resource("group", "eng"), None).map(drop),
                        4 => c.list_grants(&resource("space", "ENG"), None).map(drop),
                        5 => c.list_grants(&resource("site", "confluence"), None).map(drop),
                        6 => c.list_entitlements(&resource("site", "confluence"), None).map(drop),
                        _ => c.get_resource(&ResourceId { resource_type: "user".into(), resource: "ada".into() }, None).map(drop),
                    };
                }
            }
        }
    }

    #[test]
    fn validate_accepts_a_known_user_and_detects_the_version() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, r#"{"type":"known","username":"admin","userKey":"abc","displayName":"Admin"}"#),
            FakeTransport::json(200, r#"{"version":"9.2.3","buildNumber":9203}"#),
        ]);
        let kv = MemoryKv::default();
        assert_eq!(connector(&fake, &kv).validate().unwrap(), "authenticated as admin (Admin) on Confluence 9.2.3");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user/current", "/rest/api/server-information"]);
    }

    fn connector_at<'a>(fake: &'a FakeTransport, kv: &'a MemoryKv, hostname: &str) -> Connector<'a> {
        Connector::new(fake, kv, Options { base: Some(crate::settings::BaseUrl::parse(hostname).unwrap()), ..january_2025() })
    }

    #[test]
    fn a_missing_context_path_is_found_and_suggested() {
        let not_found = || FakeTransport::json(404, r#"{"statusCode":404,"message":"null for uri: resource not found"}"#);
        let fake = FakeTransport::new(vec![not_found(), not_found(), FakeTransport::json(401, "")]);
        let kv = MemoryKv::default();
        let err = connector_at(&fake, &kv, "https://example.com").validate().unwrap_err();
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user/current", "/confluence/rest/api/user/current", "/wiki/rest/api/user/current"]);
        assert!(matches!(&err, ConnectorError::InvalidArgument(m) if m.contains("use https://example.com/wiki as the hostname")), "{err:?}");

        let fake = FakeTransport::new(vec![not_found(), not_found(), not_found()]);
        let err = connector_at(&fake, &kv, "https://example.com").validate().unwrap_err();
        assert!(matches!(&err, ConnectorError::InvalidArgument(m) if m.contains("/confluence and /wiki were tried")), "{err:?}");
    }

    #[test]
    fn a_context_path_that_may_be_wrong_is_named_and_nothing_outside_it_is_sent() {
        let fake = FakeTransport::new(vec![FakeTransport::json(404, "")]);
        let kv = MemoryKv::default();
        let err = connector_at(&fake, &kv, "http://example.com:8090/confluence").validate().unwrap_err();
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user/current"]);
        assert!(
            matches!(&err, ConnectorError::InvalidArgument(m) if m.contains("context path /confluence may be wrong") && m.contains("use http://example.com:8090 as the hostname")),
            "{err:?}"
        );
    }

    #[test]
    fn validate_refuses_anonymous() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, r#"{"type":"anonymous","displayName":"Anonymous"}"#)]);
        let kv = MemoryKv::default();
        let err = connector(&fake, &kv).validate().unwrap_err();
        assert!(matches!(err, ConnectorError::Unauthenticated(ref m) if m.contains("anonymous")), "{err:?}");
    }

    #[test]
    fn unknown_resource_type_is_not_found() {
        let fake = FakeTransport::default();
        let kv = MemoryKv::default();
        let err = connector(&fake, &kv).list_resources("nope", None, None).unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound(_)));
    }

    #[test]
    fn resource_type_ids_are_unique_and_users_come_first() {
        let fake = FakeTransport::default();
        let kv = MemoryKv::default();
        let _ = connector(&fake, &kv);
        let ids: Vec<String> = Connector::all_resource_types().into_iter().map(|t| t.id).collect();
        assert_eq!(ids, vec!["user", "anonymous", "group", "space", "site"]);
        let meta = Connector::metadata();
        assert_eq!(meta.capabilities.len(), 5);
    }

    #[test]
    fn a_resource_type_registered_twice_is_an_error() {
        let mut ids: Vec<String> = all_syncers().iter().map(|s| s.resource_type().id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all_syncers().len(), "the real registry has no duplicate");
        let fake = FakeTransport::default();
        let kv = MemoryKv::default();
        let twice = Connector::with_syncers(&fake, &kv, january_2025(), vec![Box::new(AnonymousSyncer), Box::new(GroupSyncer), Box::new(AnonymousSyncer)]);
        let err = twice.list_resources("anonymous", None, None).unwrap_err();
        assert!(matches!(&err, ConnectorError::Internal(m) if m.contains("more than once")), "{err:?}");
        assert_eq!(twice.syncer("group").unwrap().resource_type().id, "group", "other types are unaffected");
        assert!(matches!(twice.list_resources("space", None, None), Err(ConnectorError::NotFound(_))));
    }
}
