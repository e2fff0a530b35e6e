//! Confluence groups as the directory knows them: the [`ConfluenceGroup`] answer, reading one
//! group, looking for one in the group list, whether one exists, name comparison (Confluence
//! compares group names case-insensitively), the groups a user is in, and the `group` resource.
//!
//! Group names go into paths percent-encoded, but a name containing `/` cannot be addressed by
//! path on any version (Tomcat rejects `%2F`): such a group is looked for in the list
//! (`/rest/api/group`), or addressed through the `groupName` query endpoints on 10.2+.

use crate::client::encode_component;
use crate::directory::ids::GROUP;
use crate::directory::paging::each_page;
use crate::directory::profile::text;
use crate::syncer::Context;
use crate::types::{ConnectorError, GroupTrait, Resource, ResourceId, Status};
use serde::Deserialize;
use std::ops::ControlFlow;

/// A group as Confluence returns it.
#[derive(Debug, Deserialize)]
pub struct ConfluenceGroup {
    pub name: Option<String>,
}

/// The path of the first page of the group list.
pub fn first_group_list_path(page_size: u32) -> String {
    format!("/rest/api/group?limit={page_size}&start=0")
}

/// The path of the first page of a group's members, with their status: by path, or by the
/// `groupName` query (10.2+) for a name no path can carry ([`path_safe`]).
pub fn first_member_path(name: &str, page_size: u32) -> String {
    if path_safe(name) {
        format!("/rest/api/group/{}/member?limit={page_size}&start=0&expand=status", encode_component(name))
    } else {
        format!("/rest/api/group/member?groupName={}&limit={page_size}&start=0&expand=status", encode_component(name))
    }
}

/// The stored name of one group (Confluence matches names case-insensitively); none when absent.
pub fn read_group(cx: &Context, path: &str) -> Result<Option<String>, ConnectorError> {
    match cx.client.get_json::<ConfluenceGroup>(path) {
        Ok(group) => Ok(group.name.filter(|n| !n.is_empty())),
        Err(ConnectorError::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// A group whose name holds `/`, before 10.2: no endpoint addresses it, so the list is read
/// (until the name is found); its stored name.
pub fn find_in_group_list(cx: &Context, name: &str) -> Result<Option<String>, ConnectorError> {
    each_page(cx, first_group_list_path(cx.options.page_size), |groups: Vec<ConfluenceGroup>| {
        match groups.into_iter().filter_map(|g| g.name).find(|n| n.eq_ignore_ascii_case(name)) {
            Some(found) => ControlFlow::Break(found),
            None => ControlFlow::Continue(()),
        }
    })
}

/// Whether two group names name the same group: Confluence compares them case-insensitively.
pub fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Whether a group name can go into a URL path. A `/` cannot on any version (Tomcat rejects
/// `%2F`), and the host refuses paths a server could read as another path: `\\`, `;`, and a
/// `%` followed by two hex digits (its encoding `%25XX` reads as a double encoding). Such names
/// are addressed without a path: query parameters on 10.2+, or lists and JSON-RPC before.
pub fn path_safe(name: &str) -> bool {
    let bytes = name.as_bytes();
    let percent_escape = bytes.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    !name.contains(['/', '\\', ';']) && !percent_escape
}

/// Whether Confluence has a group of this name. `GET /rest/api/group/{name}` exists on every
/// supported version; a name no path can carry ([`path_safe`]) is looked for in the group list.
pub fn exists(cx: &Context, name: &str) -> Result<bool, ConnectorError> {
    if !path_safe(name) {
        return is_listed(cx, name);
    }
    match cx.client.get_json::<ConfluenceGroup>(&format!("/rest/api/group/{}", encode_component(name))) {
        Ok(_) => Ok(true),
        Err(ConnectorError::NotFound(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Whether the group list (`/rest/api/group`, read until the name is found) has this name.
pub fn is_listed(cx: &Context, name: &str) -> Result<bool, ConnectorError> {
    let found = each_page(cx, first_group_list_path(cx.options.page_size), |groups: Vec<ConfluenceGroup>| {
        match groups.iter().filter_map(|g| g.name.as_deref()).any(|n| same_name(n, name)) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    })?;
    Ok(found.is_some())
}

/// The names of the groups a user is in (`/rest/api/user/memberof`, every page).
pub fn groups_of(cx: &Context, username: &str) -> Result<Vec<String>, ConnectorError> {
    let mut names = Vec::new();
    let first = format!("/rest/api/user/memberof?username={}&limit={}&start=0", encode_component(username), cx.options.page_size);
    each_page(cx, first, |groups: Vec<ConfluenceGroup>| -> ControlFlow<()> {
        names.extend(groups.into_iter().filter_map(|g| g.name));
        ControlFlow::Continue(())
    })?;
    Ok(names)
}

/// Whether `username` is in `group` (by the user's group list).
pub fn is_member(cx: &Context, username: &str, group: &str) -> Result<bool, ConnectorError> {
    Ok(groups_of(cx, username)?.iter().any(|n| same_name(n, group)))
}

/// The group as a resource.
pub fn group_resource(name: &str) -> Resource {
    Resource {
        id: ResourceId { resource_type: GROUP.into(), resource: name.into() },
        parent: None,
        display_name: name.into(),
        description: String::new(),
        status: Status::Unspecified,
        user: None,
        group: Some(GroupTrait { source: String::new() }),
        // `group_name` and `group_type` as the older Go connector writes them.
        profile: vec![text("name", name), text("group_name", name), text("group_type", "group")],
        external_link: None,
    }
}
