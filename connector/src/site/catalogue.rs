//! The global-permission catalogue: the five operations Confluence Data Center documents for its
//! Global Permissions REST API (docs/confluence-dc.md §13), each with its REST (target,
//! operation) pair, our slug and whether it is privileged, plus the names made for any other
//! pair a server reports; and the entitlements they make of the site (`site:<id>:<slug>`).

use crate::directory::ids::{ANONYMOUS, GROUP, SITE, USER};
use crate::types::{Entitlement, Purpose, Resource};

/// A global permission as Confluence's API names it: its `targetType` and `operationKey`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    pub target: String,
    pub operation: String,
}

impl Pair {
    pub fn new(target: &str, operation: &str) -> Pair {
        Pair { target: target.into(), operation: operation.into() }
    }

    /// Whether this is the pair `(target, operation)`.
    pub fn is(&self, target: &str, operation: &str) -> bool {
        self.target == target && self.operation == operation
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.target, self.operation)
    }
}

/// One global permission: the REST (target, operation) pair, our slug, a label and what it lets
/// someone do (for descriptions), and whether it is privileged (administers the site).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalPermission {
    pub target: String,
    pub operation: String,
    pub slug: String,
    pub label: String,
    pub allows: String,
    pub privileged: bool,
}

/// The documented operations: (target, operation, slug, label, what it allows, privileged).
const DOCUMENTED: [(&str, &str, &str, &str, &str, bool); 5] = [
    ("application", "use", "use", "Can use", "use Confluence", false),
    ("application", "administer", "administer", "Confluence Administrator", "administer Confluence (Confluence Administrator)", true),
    ("system", "administer", "system-administer", "System Administrator", "administer the system (System Administrator)", true),
    ("space", "create", "create-space", "Create spaces", "create spaces", false),
    ("personal_space", "create", "create-personal-space", "Create personal space", "create a personal space", false),
];

/// The five documented global permissions, in the order above.
pub fn documented() -> Vec<GlobalPermission> {
    DOCUMENTED.iter().map(|&(target, operation, ..)| of_pair(target, operation)).collect()
}

impl GlobalPermission {
    /// Its (target, operation) pair.
    pub fn pair(&self) -> Pair {
        Pair::new(&self.target, &self.operation)
    }
}

/// The permission of a (target, operation) pair: a documented one, or one named from the
/// pair itself (slug `<target>-<operation>`, lower case, anything but letters and digits
/// made `-`), so an operation this catalogue does not know is kept, not dropped.
pub fn of_pair(target: &str, operation: &str) -> GlobalPermission {
    match DOCUMENTED.iter().find(|d| d.0 == target && d.1 == operation) {
        Some(&(target, operation, slug, label, allows, privileged)) => {
            GlobalPermission { target: target.into(), operation: operation.into(), slug: slug.into(), label: label.into(), allows: allows.into(), privileged }
        }
        None => GlobalPermission {
            target: target.into(),
            operation: operation.into(),
            slug: reported_slug(target, operation),
            label: format!("{target} {operation}"),
            allows: format!("{operation} {target} (a global permission this connector does not describe)"),
            privileged: false,
        },
    }
}

/// The documented permission of an entitlement slug, or the reported one whose slug it is.
pub fn by_slug<'a>(slug: &str, reported: impl IntoIterator<Item = &'a GlobalPermission>) -> Option<GlobalPermission> {
    documented().into_iter().chain(reported.into_iter().cloned()).find(|p| p.slug == slug)
}

/// `<target>-<operation>` made a slug; one that a documented permission already uses gets
/// `-reported` after it, so two permissions never share an entitlement.
fn reported_slug(target: &str, operation: &str) -> String {
    let slug = slug_of(&format!("{target}-{operation}"));
    if DOCUMENTED.iter().any(|d| d.2 == slug) { format!("{slug}-reported") } else { slug }
}

fn slug_of(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    slug.trim_matches('-').to_string()
}

/// The entitlement id of a permission on the site.
pub fn entitlement_id(site: &str, permission: &GlobalPermission) -> String {
    format!("{SITE}:{site}:{}", permission.slug)
}

/// The entitlement a permission makes of the site. Privileged ones say so first in the name
/// and the description (baton has no annotation for it; docs/confluence-dc.md §13).
pub fn entitlement(site: &Resource, permission: &GlobalPermission) -> Entitlement {
    let marker = if permission.privileged { "Privileged: " } else { "" };
    let grantable_to = if permission.slug == "use" { vec![USER.into(), GROUP.into(), ANONYMOUS.into()] } else { vec![USER.into(), GROUP.into()] };
    Entitlement {
        id: entitlement_id(&site.id.resource, permission),
        resource: site.id.clone(),
        slug: permission.slug.clone(),
        display_name: format!("{marker}{} ({})", permission.label, site.display_name),
        description: format!("{marker}can {} on {} (global permission {}/{})", permission.allows, site.display_name, permission.target, permission.operation),
        purpose: Purpose::Permission,
        grantable_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pairs_have_the_agreed_slugs_and_only_administration_is_privileged() {
        let rows: Vec<(String, String, String, bool)> = documented().into_iter().map(|p| (p.target, p.operation, p.slug, p.privileged)).collect();
        let expected = [
            ("application", "use", "use", false),
            ("application", "administer", "administer", true),
            ("system", "administer", "system-administer", true),
            ("space", "create", "create-space", false),
            ("personal_space", "create", "create-personal-space", false),
        ];
        assert_eq!(rows, expected.map(|(t, o, s, p)| (t.to_string(), o.to_string(), s.to_string(), p)));
    }

    #[test]
    fn an_unknown_pair_is_named_from_its_own_keys() {
        let p = of_pair("user_profile", "View");
        assert_eq!((p.slug.as_str(), p.privileged), ("user-profile-view", false));
        assert_eq!(of_pair("a//b", "--c").slug, "a-b-c");
        assert_eq!(of_pair("create", "space").slug, "create-space-reported", "never the slug of a documented permission");
        assert_eq!(by_slug("user-profile-view", [&p]).map(|p| p.operation), Some("View".to_string()));
        assert_eq!(by_slug("system-administer", []).map(|p| p.target), Some("system".to_string()));
        assert!(by_slug("nope", [&p]).is_none());
    }
}
