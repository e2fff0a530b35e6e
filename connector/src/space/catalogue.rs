//! The space-permission catalogue: the fourteen [`PERMISSIONS`] of Confluence Data Center, each
//! with its legacy key (JSON-RPC), REST (target, operation) pair and slugs, the lookups by each,
//! and the entitlements they make of a space (`space:<KEY>:<slug>`, grantable to users, groups
//! and anonymous access). The slug follows the compatibility profile: ours (`view`), as the Go
//! connector of January 2025 wrote it, or `<operation>-<target>` (`read-space`), as its newest
//! release writes it; either is understood in a grant or revoke.

use crate::directory::ids::{ANONYMOUS, GROUP, SPACE, USER};
use crate::settings::Compat;
use crate::types::{ConnectorError, Entitlement, Purpose, Resource};

/// One space permission: legacy key, our slug, the REST (target, operation) pair, and what it
/// lets someone do (for descriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub key: &'static str,
    pub slug: &'static str,
    pub target: &'static str,
    pub operation: &'static str,
    pub label: &'static str,
    pub allows: &'static str,
}

const fn permission(
    key: &'static str,
    slug: &'static str,
    target: &'static str,
    operation: &'static str,
    label: &'static str,
    allows: &'static str,
) -> Permission {
    Permission { key, slug, target, operation, label, allows }
}

/// The fourteen space permissions of Confluence Data Center (docs/confluence-dc.md §8.1).
pub const PERMISSIONS: [Permission; 14] = [
    permission("VIEWSPACE", "view", "space", "read", "View", "view space"),
    permission("EDITSPACE", "edit-space", "page", "create", "Add pages", "add pages in space"),
    permission("COMMENT", "add-comment", "comment", "create", "Add comments", "add comments in space"),
    permission("CREATEATTACHMENT", "add-attachment", "attachment", "create", "Add attachments", "add attachments in space"),
    permission("EDITBLOG", "edit-blog", "blogpost", "create", "Add blog posts", "add blog posts in space"),
    permission("EXPORTSPACE", "export-space", "space", "export", "Export space", "export space"),
    permission("REMOVEATTACHMENT", "remove-attachment", "attachment", "delete", "Delete attachments", "delete attachments in space"),
    permission("REMOVEBLOG", "remove-blog", "blogpost", "delete", "Delete blog posts", "delete blog posts in space"),
    permission("REMOVECOMMENT", "remove-comment", "comment", "delete", "Delete comments", "delete comments in space"),
    permission("REMOVEMAIL", "remove-mail", "space", "delete_mail", "Delete mail", "delete mail in space"),
    permission("REMOVEOWNCONTENT", "remove-own-content", "space", "delete_own", "Delete own content", "delete their own content in space"),
    permission("REMOVEPAGE", "remove-page", "page", "delete", "Delete pages", "delete pages in space"),
    permission("SETPAGEPERMISSIONS", "set-page-permissions", "space", "restrict", "Add/delete restrictions", "add or delete page restrictions in space"),
    permission("SETSPACEPERMISSIONS", "set-space-permissions", "space", "administer", "Administer space", "administer space"),
];

/// The permission of a legacy key, if it is one of the fourteen.
pub fn by_key(key: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| p.key == key)
}

/// The permission of a REST (target, operation) pair, if it is one of the fourteen.
pub fn by_operation(target: &str, operation: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| p.target == target && p.operation == operation)
}

impl Permission {
    /// The slug of this permission under a compatibility profile.
    pub fn slug_for(&self, compat: Compat) -> String {
        match compat {
            Compat::Go202501 => self.slug.to_string(),
            Compat::GoNewest => format!("{}-{}", self.operation, self.target),
        }
    }
}

/// The permission of an entitlement slug, in either profile's spelling.
pub fn by_slug(slug: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| Compat::ALL.iter().any(|c| p.slug_for(*c) == slug))
}

/// The permission an entitlement slug names; `invalid-argument` for any other slug.
pub fn permission_of(slug: &str, entitlement_id: &str) -> Result<&'static Permission, ConnectorError> {
    by_slug(slug).ok_or_else(|| ConnectorError::InvalidArgument(format!("{entitlement_id} is not a Confluence space permission")))
}

/// The fourteen entitlements of a space.
pub fn entitlements(space: &Resource, compat: Compat) -> Vec<Entitlement> {
    PERMISSIONS.iter().map(|p| space_entitlement(space, p, compat)).collect()
}

/// The entitlement id of a permission on a space.
pub fn entitlement_id(space_key: &str, permission: &Permission, compat: Compat) -> String {
    format!("{SPACE}:{space_key}:{}", permission.slug_for(compat))
}

fn space_entitlement(space: &Resource, permission: &Permission, compat: Compat) -> Entitlement {
    Entitlement {
        id: entitlement_id(&space.id.resource, permission, compat),
        resource: space.id.clone(),
        slug: permission.slug_for(compat),
        display_name: format!("{} ({})", permission.label, space.display_name),
        description: format!("Can {} {} ({})", permission.allows, space.display_name, space.id.resource),
        purpose: Purpose::Permission,
        grantable_to: vec![USER.into(), GROUP.into(), ANONYMOUS.into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::space::fixtures::space;
    use crate::transport::FakeTransport;

    #[test]
    fn fourteen_distinct_permissions_with_the_agreed_slugs() {
        let slugs: Vec<&str> = PERMISSIONS.iter().map(|p| p.slug).collect();
        let mut expected = vec![
            "view",
            "edit-space",
            "add-comment",
            "add-attachment",
            "edit-blog",
            "export-space",
            "remove-attachment",
            "remove-blog",
            "remove-comment",
            "remove-mail",
            "remove-own-content",
            "remove-page",
            "set-page-permissions",
            "set-space-permissions",
        ];
        let mut sorted = slugs.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        for p in &PERMISSIONS {
            assert_eq!(by_key(p.key), Some(p));
            assert_eq!(by_operation(p.target, p.operation), Some(p), "{} pair is unique", p.key);
            assert_eq!(by_slug(p.slug), Some(p));
            assert_eq!(by_slug(&p.slug_for(Compat::GoNewest)), Some(p), "{}: the newest Go release's slug", p.key);
        }
        assert!(by_key("EXPORTPAGE").is_none());
        assert!(by_operation("custom-type", "read").is_none());
    }

    /// Every (slug, legacy key, REST targetType, REST operationKey) exactly as the table of
    /// docs/confluence-dc.md §8.1 lists them, so swapping any two fails.
    #[test]
    fn every_permission_maps_slug_key_and_rest_pair_as_agreed() {
        let expected = [
            ("view", "VIEWSPACE", "space", "read"),
            ("edit-space", "EDITSPACE", "page", "create"),
            ("add-comment", "COMMENT", "comment", "create"),
            ("add-attachment", "CREATEATTACHMENT", "attachment", "create"),
            ("edit-blog", "EDITBLOG", "blogpost", "create"),
            ("export-space", "EXPORTSPACE", "space", "export"),
            ("remove-attachment", "REMOVEATTACHMENT", "attachment", "delete"),
            ("remove-blog", "REMOVEBLOG", "blogpost", "delete"),
            ("remove-comment", "REMOVECOMMENT", "comment", "delete"),
            ("remove-mail", "REMOVEMAIL", "space", "delete_mail"),
            ("remove-own-content", "REMOVEOWNCONTENT", "space", "delete_own"),
            ("remove-page", "REMOVEPAGE", "page", "delete"),
            ("set-page-permissions", "SETPAGEPERMISSIONS", "space", "restrict"),
            ("set-space-permissions", "SETSPACEPERMISSIONS", "space", "administer"),
        ];
        let actual: Vec<(&str, &str, &str, &str)> = PERMISSIONS.iter().map(|p| (p.slug, p.key, p.target, p.operation)).collect();
        assert_eq!(actual, expected);
    }

    /// The slugs of the newest Go release: `<operationKey>-<targetType>` of the REST pair.
    #[test]
    fn the_newest_profile_names_permissions_by_operation_and_target() {
        let newest: Vec<String> = PERMISSIONS.iter().map(|p| p.slug_for(Compat::GoNewest)).collect();
        assert_eq!(
            newest,
            [
                "read-space",
                "create-page",
                "create-comment",
                "create-attachment",
                "create-blogpost",
                "export-space",
                "delete-attachment",
                "delete-blogpost",
                "delete-comment",
                "delete_mail-space",
                "delete_own-space",
                "delete-page",
                "restrict-space",
                "administer-space",
            ]
        );
        let space = space("ENG");
        let ids: Vec<String> = entitlements(&space, Compat::GoNewest).into_iter().map(|e| e.id).collect();
        assert!(ids.contains(&"space:ENG:read-space".to_string()) && ids.len() == 14, "{ids:?}");
    }

    #[test]
    fn entitlements_describe_the_space() {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        let ents = connector(&fake, &kv).list_entitlements(&space("ENG"), None).unwrap().items;
        assert_eq!(ents.len(), 14);
        let view = ents.iter().find(|e| e.slug == "view").unwrap();
        assert_eq!(view.id, "space:ENG:view");
        assert_eq!(view.description, "Can view space Engineering (ENG)");
        assert_eq!(view.grantable_to, vec!["user", "group", "anonymous"]);
    }
}
