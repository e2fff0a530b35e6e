//! Anonymous access as a principal. Confluence can grant space permissions to "anonymous" —
//! anyone, even people who are not logged in. Baton grants need a principal resource, so there is
//! one resource type `anonymous` (group trait: it stands for a set of people, everyone) with one
//! resource `anonymous`. A grant `space:ENG:view:anonymous:anonymous` then reads as "anyone, even
//! unauthenticated, can view space ENG" in a review. It has no members to expand to.
//!
//! The type id and the principal's id are `directory::ids`' (space grants name them too).

use crate::directory::ids::{ANONYMOUS, anonymous_id};
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{Capability, ConnectorError, GroupTrait, Resource, ResourceId, ResourcePage, ResourceTrait, ResourceType, Status};

/// Lists the one anonymous principal.
pub struct AnonymousSyncer;

impl ResourceSyncer for AnonymousSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: ANONYMOUS.into(),
            display_name: "Anonymous access".into(),
            description: "Anyone, including people who are not logged in to Confluence".into(),
            traits: vec![ResourceTrait::Group],
            skip_entitlements_and_grants: true,
        }
    }

    fn list(&self, _cx: &Context, _parent: Option<&ResourceId>, _token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        Ok(ResourcePage { items: vec![everyone()], next_page_token: None })
    }

    fn get(&self, _cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        if id.resource != ANONYMOUS {
            return Err(ConnectorError::NotFound(format!("there is one anonymous principal, {ANONYMOUS:?}, not {:?}", id.resource)));
        }
        Ok(everyone())
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::TargetedSync]
    }
}

/// The one principal that stands for everyone.
fn everyone() -> Resource {
    Resource {
        id: anonymous_id(),
        parent: None,
        display_name: "Anonymous (anyone, even not logged in)".into(),
        description: "Permissions granted to anonymous users apply to everyone who can reach Confluence".into(),
        status: Status::Unspecified,
        user: None,
        group: Some(GroupTrait { source: "confluence-anonymous".into() }),
        profile: vec![],
        external_link: None,
    }
}
