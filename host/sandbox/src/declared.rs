//! What a component may send beyond GET and HEAD: the requests it declares in its metadata
//! (method and path pattern, each a read or a change), and what one call may send of them. A
//! call that only reads (validate, resource types, lists, get-resource) may send the declared
//! reads; a change (grant, revoke, create-account) may also send the declared changes, and only
//! in a run the operator allowed to change things ([`Allowance`]). Anything not declared is
//! refused, whatever the call.

use crate::bindings::wit;
use crate::origin::canonical_path;
use http::Method;
use std::sync::Arc;

/// Whether a declared request reads or changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Change,
}

/// What the call under way may send: reads only, or changes too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Allowance {
    #[default]
    Read,
    Change,
}

/// One declared request: a method and a path pattern relative to the origin's path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    method: Method,
    segments: Vec<String>,
    access: Access,
}

impl Rule {
    /// A rule from its declaration, or why it is not well formed.
    pub fn parse(method: &str, path: &str, access: Access) -> Result<Rule, String> {
        let method = match method {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => return Err(format!("{other:?} {path}: the method must be POST, PUT, PATCH or DELETE (GET and HEAD need no declaration)")),
        };
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(format!("{method} {path:?}: the path must start with / and hold no query"));
        }
        let canonical = canonical_path(path).map_err(|why| format!("{method} {path}: the path {why}"))?;
        if canonical != path {
            return Err(format!("{method} {path}: write the path in its canonical form, {canonical}"));
        }
        let segments: Vec<String> = path[1..].split('/').map(str::to_string).collect();
        if segments.iter().rev().skip(1).any(|s| s == "**") {
            return Err(format!("{method} {path}: ** may only end a path"));
        }
        Ok(Rule { method, segments, access })
    }

    /// Whether this rule covers `method` to `path` (relative to the origin, canonical).
    fn covers(&self, method: &Method, path: &str) -> bool {
        if *method != self.method {
            return false;
        }
        let given: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let mut pattern = self.segments.iter();
        for (index, segment) in given.iter().enumerate() {
            match pattern.next().map(String::as_str) {
                Some("**") => return index < given.len(),
                Some("*") => {}
                Some(literal) if literal == *segment => {}
                _ => return false,
            }
        }
        pattern.next().is_none()
    }

    /// `METHOD /path`, as declared.
    pub fn text(&self) -> String {
        format!("{} /{}", self.method, self.segments.join("/"))
    }
}

/// The requests a component declares, shared by every instance of a run.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    rules: Arc<[Rule]>,
}

impl Declared {
    /// A component's declaration, or what is wrong with it.
    pub fn from_metadata(egress: &[wit::EgressRule]) -> Result<Declared, String> {
        let rules = egress
            .iter()
            .map(|rule| {
                let access = match rule.access {
                    wit::EgressAccess::Read => Access::Read,
                    wit::EgressAccess::Change => Access::Change,
                };
                Rule::parse(&rule.method, &rule.path, access)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Declared { rules: rules.into() })
    }

    /// Why `method` to `path` (relative to the origin, canonical) may not be sent by a call
    /// with `allowance`, or `Ok`. GET and HEAD need no declaration.
    pub fn permits(&self, method: &Method, path: &str, allowance: Allowance) -> Result<(), String> {
        if *method == Method::GET || *method == Method::HEAD {
            return Ok(());
        }
        let covering: Vec<&Rule> = self.rules.iter().filter(|rule| rule.covers(method, path)).collect();
        if covering.is_empty() {
            return Err(format!("the component did not declare {method} {path}"));
        }
        if allowance == Allowance::Change || covering.iter().any(|rule| rule.access == Access::Read) {
            return Ok(());
        }
        Err(format!(
            "{method} {path} changes the target system, which only a grant, revoke or account creation may do, in a run allowed to change things (--provisioning)"
        ))
    }

    /// The declared reads and changes, as `METHOD /path`.
    pub fn listed(&self) -> (Vec<String>, Vec<String>) {
        let of = |access| self.rules.iter().filter(|rule| rule.access == access).map(Rule::text).collect();
        (of(Access::Read), of(Access::Change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(rules: &[(&str, &str, Access)]) -> Declared {
        Declared { rules: rules.iter().map(|(m, p, a)| Rule::parse(m, p, *a).unwrap()).collect::<Vec<_>>().into() }
    }

    #[test]
    fn reads_go_from_any_call_changes_only_from_an_allowed_change() {
        let d = declared(&[
            ("POST", "/rpc/json/getUser", Access::Read),
            ("PUT", "/rest/api/user/*/group/*", Access::Change),
            ("DELETE", "/rest/x/**", Access::Change),
        ]);
        let (post, put, delete, patch) = (Method::POST, Method::PUT, Method::DELETE, Method::PATCH);
        assert!(d.permits(&Method::GET, "/anything", Allowance::Read).is_ok());
        assert!(d.permits(&post, "/rpc/json/getUser", Allowance::Read).is_ok());
        assert!(d.permits(&put, "/rest/api/user/ada/group/devs", Allowance::Change).is_ok());
        let refused = d.permits(&put, "/rest/api/user/ada/group/devs", Allowance::Read).unwrap_err();
        assert!(refused.contains("changes the target system") && refused.contains("--provisioning"), "{refused}");
        for (method, path) in [
            (&post, "/rpc/json/addUser"),
            (&put, "/rest/api/user/ada/group"),
            (&put, "/rest/api/user/ada/group/devs/x"),
            (&patch, "/rest/api/user/ada/group/devs"),
        ] {
            let refused = d.permits(method, path, Allowance::Change).unwrap_err();
            assert!(refused.contains("did not declare"), "{method} {path}: {refused}");
        }
        assert!(d.permits(&delete, "/rest/x/a/b/c", Allowance::Change).is_ok());
        assert!(d.permits(&delete, "/rest/x", Allowance::Change).is_err(), "** stands for one segment at least");
        assert!(Declared::default().permits(&post, "/rpc/json/getUser", Allowance::Change).is_err(), "nothing declared: GET and HEAD only");
    }

    #[test]
    fn malformed_declarations_are_refused_with_what_to_fix() {
        for (method, path, says) in [
            ("GET", "/x", "need no declaration"),
            ("post", "/x", "must be POST"),
            ("POST", "x", "start with /"),
            ("POST", "/x?y=1", "no query"),
            ("POST", "/a/../b", ". or .."),
            ("POST", "/a/%7e", "canonical form, /a/~"),
            ("POST", "/**/x", "may only end"),
        ] {
            let refused = Rule::parse(method, path, Access::Read).unwrap_err();
            assert!(refused.contains(says), "{method} {path}: {refused}");
        }
        assert_eq!(Rule::parse("PUT", "/rest/api/user/*/group/*", Access::Change).unwrap().text(), "PUT /rest/api/user/*/group/*");
    }
}
