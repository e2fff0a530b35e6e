//! The `[policy]` of a tenants file: which components the runner may run at all, checked when
//! the file is read so that `serve --check` names every tenant it would refuse and why.
//! `require_signature` asks for a verify key for every registry component (and refuses `.wasm`
//! files, which carry no signature); `allowed_registries` lists where components may come from
//! (a registry, or a registry and repository prefix); with `allow_tags = false` only references
//! by digest run; a `:latest` (or tagless) reference is refused unless `allow_latest`, since what
//! it names changes under the tenant.

use serde::Deserialize;
use std::path::Path;

/// The file's `[policy]` (without one, everything is allowed, as before).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub require_signature: bool,
    #[serde(default)]
    pub allowed_registries: Vec<String>,
    #[serde(default)]
    pub allow_latest: bool,
    #[serde(default = "tags_allowed")]
    pub allow_tags: bool,
}

fn tags_allowed() -> bool {
    true
}

/// What the policy judges of a tenant: where its component comes from.
pub enum Subject<'a> {
    /// The one shipped with this program.
    Builtin,
    File(&'a Path),
    /// A registry reference, and whether a key will check its signature.
    Registry {
        reference: &'a str,
        has_key: bool,
    },
}

impl Policy {
    /// Why a tenant whose component is `subject` may not run under this policy, if it may not.
    pub fn refusal(&self, subject: Subject<'_>) -> Option<String> {
        match subject {
            Subject::Builtin => None,
            Subject::File(path) if self.require_signature => Some(format!(
                "policy: require_signature is set, and the component file {} carries no signature: push it to a registry and sign it",
                path.display()
            )),
            Subject::File(_) => None,
            Subject::Registry { reference, has_key } => self.registry_refusal(reference, has_key),
        }
    }

    fn registry_refusal(&self, reference: &str, has_key: bool) -> Option<String> {
        let parts = crate::registry::parts(reference).ok()?;
        let place = format!("{}/{}", parts.registry, parts.repository);
        let listed = |allowed: &String| {
            let allowed = allowed.trim_end_matches('/');
            parts.registry == allowed || place == allowed || place.starts_with(&format!("{allowed}/"))
        };
        if !self.allowed_registries.is_empty() && !self.allowed_registries.iter().any(listed) {
            return Some(format!("policy: {place} is not in allowed_registries ({})", self.allowed_registries.join(", ")));
        }
        if self.require_signature && !has_key {
            return Some("policy: require_signature is set: give verify_key (the tenant's, or the file's) to check the component's signature with".into());
        }
        if parts.digest.is_none() && !self.allow_tags {
            return Some(format!(
                "policy: allow_tags is false: name the component by its digest (oci://{place}@sha256:...; component inspect {reference} prints it)"
            ));
        }
        if parts.digest.is_none() && parts.tag.as_deref().is_none_or(|tag| tag == "latest") && !self.allow_latest {
            return Some(format!(
                "policy: {reference} names :latest, which changes under the tenant: name a version or a digest (oci://{place}@sha256:...), or set allow_latest"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::runner::tenants::parse;
    use std::path::Path;

    fn tenant(name: &str, component: &str, extra: &str) -> String {
        format!("[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\n{extra}\n")
    }

    #[test]
    fn the_policy_refuses_each_tenant_it_would_not_run_naming_why() {
        let text = [
            "output_dir = \"out\"\nverify_key = \"keys/ops.pub\"\n[policy]\nrequire_signature = true\nallowed_registries = [\"registry.acme.example/baton\", \"127.0.0.1:5000\"]\n".to_string(),
            tenant("pinned", "oci://registry.acme.example/baton/confluence@sha256:0123456789012345678901234567890123456789012345678901234567890123", ""),
            tenant("versioned", "oci://127.0.0.1:5000/x/y:1.2.0", ""),
            tenant("latest", "oci://127.0.0.1:5000/x/y:latest", ""),
            tenant("tagless", "oci://127.0.0.1:5000/x/y", ""),
            tenant("elsewhere", "oci://ghcr.io/someone/connector:1.0.0", ""),
            tenant("file", "components/mine.wasm", ""),
            tenant("builtin", "builtin", ""),
        ]
        .concat();
        let tenants = parse(&text, Path::new("/etc/baton")).unwrap();
        let running: Vec<&str> = tenants.tenants.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(running, ["pinned", "versioned", "builtin"]);
        assert_eq!(tenants.tenants[0].verify_key.as_deref(), Some(Path::new("/etc/baton/keys/ops.pub")), "the file's key, from its folder");
        let why = |name: &str| tenants.refused.iter().find(|r| r.tenant == name).map(|r| r.reason.clone()).unwrap_or_default();
        assert!(why("latest").contains(":latest") && why("tagless").contains(":latest"), "{} / {}", why("latest"), why("tagless"));
        assert!(why("elsewhere").contains("ghcr.io/someone/connector is not in allowed_registries"), "{}", why("elsewhere"));
        assert!(why("file").contains("carries no signature"), "{}", why("file"));

        let without_key = "output_dir = \"out\"\n[policy]\nrequire_signature = true\n".to_string() + &tenant("unchecked", "oci://127.0.0.1:5000/x/y:1", "");
        let refused = parse(&without_key, Path::new(".")).unwrap().refused;
        assert!(refused[0].reason.contains("give verify_key"), "{}", refused[0].reason);
        let digests_only = "output_dir = \"out\"\n[policy]\nallow_tags = false\n".to_string() + &tenant("versioned", "oci://127.0.0.1:5000/x/y:1.2.0", "");
        let refused = parse(&digests_only, Path::new(".")).unwrap().refused;
        assert!(refused[0].reason.contains("allow_tags is false: name the component by its digest"), "{}", refused[0].reason);
        let no_policy = "output_dir = \"out\"\n".to_string() + &tenant("latest", "oci://127.0.0.1:5000/x/y:latest", "");
        assert!(parse(&no_policy, Path::new(".")).unwrap().refused.is_empty(), "without [policy], as before");
    }
}
