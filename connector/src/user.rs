//! Confluence users as `user` resources.
//!
//! Source: `GET /rest/api/user/list?expand=status` (8.4+), which lists every registered user,
//! disabled ones included. Resource id = username, as the older Go connector did, so a
//! customer's review history carries over; userKey and the rest go to the profile.
//! Status: `current` -> enabled, any other value -> disabled, absent -> unspecified. Email is not
//! exposed by this endpoint, so none is invented.

use crate::client::{Client, REQUESTED_PAGE_SIZE};
use crate::guest_log;
use crate::syncer::ResourceSyncer;
use crate::types::{
    AccountType, ConnectorError, ProfileField, ProfileValue, Resource, ResourceId, ResourcePage, ResourceTrait,
    ResourceType, Status, UserTrait,
};
use serde::Deserialize;

/// Resource type id of users.
pub const USER: &str = "user";

/// Lists users.
pub struct UserSyncer;

/// A user as `/rest/api/user/list` returns it.
#[derive(Debug, Deserialize)]
pub struct ConfluenceUser {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    #[serde(rename = "userKey")]
    pub user_key: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    pub status: Option<String>,
}

impl ResourceSyncer for UserSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: USER.into(),
            display_name: "User".into(),
            description: "A Confluence user account".into(),
            traits: vec![ResourceTrait::User],
            skip_entitlements_and_grants: true,
        }
    }

    fn list(&self, client: &Client, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        let path = token.map(str::to_string).unwrap_or_else(first_page_path);
        let page = client.get_page::<ConfluenceUser>(&path)?;
        let items = page.items.into_iter().filter_map(user_resource).collect();
        Ok(ResourcePage { items, next_page_token: page.next })
    }
}

fn first_page_path() -> String {
    format!("/rest/api/user/list?limit={REQUESTED_PAGE_SIZE}&start=0&expand=status")
}

/// Maps one Confluence user; entries without a username cannot be a resource and are skipped.
pub fn user_resource(user: ConfluenceUser) -> Option<Resource> {
    let Some(username) = user.username.filter(|u| !u.is_empty()) else {
        guest_log::debug("skipping a user entry without a username", &[("userKey", user.user_key.as_deref().unwrap_or(""))]);
        return None;
    };
    let status = status_of(user.status.as_deref());
    let display_name = user.display_name.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| username.clone());
    let mut profile = vec![text("username", &username)];
    profile.extend(user.user_key.as_deref().map(|k| text("user_key", k)));
    profile.extend(user.kind.as_deref().map(|k| text("type", k)));
    profile.extend(user.status.as_deref().map(|s| text("status", s)));
    Some(Resource {
        id: ResourceId { resource_type: USER.into(), resource: username.clone() },
        parent: None,
        display_name,
        description: String::new(),
        status,
        user: Some(UserTrait { login: username, emails: vec![], status, account_type: AccountType::Human }),
        group: None,
        profile,
        external_link: None,
    })
}

/// `current` -> enabled; any other value -> disabled; absent -> unspecified.
pub fn status_of(status: Option<&str>) -> Status {
    match status {
        None => Status::Unspecified,
        Some(s) if s.eq_ignore_ascii_case("current") => Status::Enabled,
        Some(_) => Status::Disabled,
    }
}

fn text(key: &str, value: &str) -> ProfileField {
    ProfileField { key: key.into(), value: ProfileValue::Text(value.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncer::Connector;
    use crate::transport::FakeTransport;

    fn page(users: &str, next: Option<&str>) -> crate::transport::Response {
        let links = match next {
            Some(n) => format!(r#"{{"base":"http://elsewhere:8090/confluence","context":"/confluence","next":"{n}"}}"#),
            None => r#"{"base":"http://elsewhere:8090/confluence","context":"/confluence"}"#.to_string(),
        };
        FakeTransport::json(200, &format!(r#"{{"results":[{users}],"start":0,"limit":2,"size":2,"_links":{links}}}"#))
    }

    const ADA: &str = r#"{"type":"known","username":"ada","userKey":"k1","displayName":"Ada","status":"current"}"#;
    const BOB: &str = r#"{"type":"known","username":"bob","userKey":"k2","displayName":"","status":"deactivated"}"#;
    const CY: &str = r#"{"type":"known","username":"cy","userKey":"k3","displayName":"שלום"}"#;

    #[test]
    fn follows_next_links_past_short_pages_until_none() {
        let fake = FakeTransport::new(vec![
            page(&format!("{ADA},{BOB}"), Some("/rest/api/user/list?expand=status&limit=2&start=2")),
            page(CY, None),
        ]);
        let connector = Connector::new(&fake);
        let first = connector.list_resources(USER, None, None).unwrap();
        assert_eq!(first.items.len(), 2);
        let token = first.next_page_token.expect("a next page");
        let second = connector.list_resources(USER, None, Some(&token)).unwrap();
        assert_eq!(second.items.len(), 1);
        assert!(second.next_page_token.is_none());
        assert_eq!(
            fake.sent_paths(),
            vec!["/rest/api/user/list?limit=1000&start=0&expand=status", "/rest/api/user/list?expand=status&limit=2&start=2"]
        );
    }

    #[test]
    fn maps_status_names_and_profile() {
        let fake = FakeTransport::new(vec![page(&format!("{ADA},{BOB},{CY}"), None)]);
        let items = Connector::new(&fake).list_resources(USER, None, None).unwrap().items;
        let statuses: Vec<Status> = items.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Status::Enabled, Status::Disabled, Status::Unspecified]);
        assert_eq!(items[0].id.resource, "ada");
        assert_eq!(items[1].display_name, "bob", "empty display name falls back to the username");
        assert_eq!(items[2].display_name, "שלום");
        let user = items[0].user.as_ref().unwrap();
        assert_eq!(user.login, "ada");
        assert!(user.emails.is_empty());
        assert!(items[0].profile.iter().any(|f| f.key == "user_key" && matches!(&f.value, ProfileValue::Text(k) if k == "k1")));
    }

    #[test]
    fn entries_without_username_are_skipped() {
        let fake = FakeTransport::new(vec![page(r#"{"type":"unknown","userKey":"zz"}"#, None)]);
        assert!(Connector::new(&fake).list_resources(USER, None, None).unwrap().items.is_empty());
    }
}
