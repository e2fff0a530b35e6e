//! The origin grammar: the one destination a component's requests may reach ([`Origin`]: scheme,
//! host, port and path prefix), parsed from the operator's base URL and judged on a request's
//! URI after canonicalisation ([`canonical_path`]); a URL quoted without its user information
//! ([`without_user_info`]); and whether a host is this machine ([`is_loopback`]). The egress hook
//! admits by it, the client that sends names its target by it.

use http::Uri;

/// The one origin (and path prefix) requests may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    /// Lowercase host name or address.
    pub host: String,
    /// Effective port (the scheme's default when not given).
    pub port: u16,
    /// Path prefix without trailing slash (`""` or e.g. `/wiki`).
    pub path_prefix: String,
}

/// `raw` with everything between the scheme and the last `@` replaced by `***`, so that a URL
/// can be quoted in an error message without repeating a password someone put into it,
/// whatever characters the password holds (`/`, `?`, `#` and `@` included: a parser would end
/// the authority early, so the whole stretch up to the last `@` is hidden).
pub(crate) fn without_user_info(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => raw.to_string(),
    }
}

impl Origin {
    /// Parses a base URL (`http(s)://host[:port][/prefix]`).
    pub fn parse(raw: &str) -> Result<Origin, String> {
        let shown = without_user_info(raw);
        let base_url = shown.as_str();
        let url = url::Url::parse(raw).map_err(|e| format!("{base_url:?} is not a URL: {e}"))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("{base_url:?} uses {other}: only http and https are supported")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{base_url:?} carries user information; give credentials through their own settings"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{base_url:?} must not have a query or fragment"));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("{base_url:?} has no host"))?;
        // An IPv6 literal comes bracketed; requests carry it the same way, compared bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let path_prefix = canonical_path(url.path()).map_err(|why| format!("{base_url:?} has an unusable path: {why}"))?.trim_end_matches('/').to_string();
        Ok(Origin { https, host: host.to_ascii_lowercase(), port, path_prefix })
    }

    /// The origin as a URL, for messages and for the guest's configuration.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default_port = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let port = if self.port == default_port { String::new() } else { format!(":{}", self.port) };
        format!("{scheme}://{host}{port}{}", self.path_prefix)
    }

    /// Why `uri` is not allowed, or, when it is, its canonical path relative to the path prefix
    /// (`/...`), which further checks judge.
    pub fn admit(&self, uri: &Uri) -> Result<String, String> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("it has no http or https scheme".into()),
        };
        let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err("its authority carries user information".into());
        }
        if https != self.https || host != self.host || port != self.port {
            return Err("it is not the configured origin".into());
        }
        let path = canonical_path(uri.path()).map_err(|why| format!("its path {why}"))?;
        let prefix = &self.path_prefix;
        if !prefix.is_empty() && path != *prefix && !path.starts_with(&format!("{prefix}/")) {
            return Err(format!("its path is outside {prefix}"));
        }
        let rest = &path[prefix.len()..];
        Ok(if rest.is_empty() { "/".into() } else { rest.to_string() })
    }
}

/// Whether `host` is this machine (`localhost` or a loopback address): plain http to it crosses
/// no network.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `path` in the one form a server compares: percent-encoded unreserved characters decoded,
/// other encodings kept (upper case). Whatever a server behind a context path could read as
/// another path is refused rather than guessed: path parameters (`;`), backslashes, encoded
/// `/`, `\` or `;`, encoded `%` that starts another encoding (double encoding), malformed
/// encodings, and `.` or `..` segments in any spelling.
pub fn canonical_path(path: &str) -> Result<String, String> {
    let segments = path.split('/').map(canonical_segment).collect::<Result<Vec<_>, _>>()?;
    Ok(segments.join("/"))
}

fn canonical_segment(raw: &str) -> Result<String, String> {
    if raw.contains(';') {
        return Err("has a path parameter (;)".into());
    }
    if raw.contains('\\') {
        return Err("has a backslash".into());
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let decoded = bytes.get(i + 1..i + 3).and_then(|hex| std::str::from_utf8(hex).ok()).and_then(|hex| u8::from_str_radix(hex, 16).ok());
        let Some(byte) = decoded else { return Err("has a malformed percent-encoding".into()) };
        match byte {
            b'/' | b'\\' | b';' => return Err("has an encoded separator (/, \\ or ;)".into()),
            b'%' if bytes.get(i + 3..i + 5).is_some_and(|n| n.iter().all(u8::is_ascii_hexdigit)) => {
                return Err("is percent-encoded twice".into());
            }
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
        i += 3;
    }
    if out == "." || out == ".." {
        return Err("has . or .. segments".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(base: &str) -> Origin {
        Origin::parse(base).unwrap()
    }

    #[test]
    fn admits_only_the_configured_origin_and_prefix() {
        let o = origin("http://127.0.0.1:8090/wiki/");
        assert_eq!(o.path_prefix, "/wiki");
        let ok = |u: &str| o.admit(&u.parse().unwrap()).is_ok();
        assert!(ok("http://127.0.0.1:8090/wiki/rest/api/user/current"));
        assert!(!ok("http://127.0.0.1:8091/wiki/rest/api/user/current"), "other port");
        assert!(!ok("https://127.0.0.1:8090/wiki/rest/api/user/current"), "other scheme");
        assert!(!ok("http://localhost:8090/wiki/rest"), "other host name");
        assert!(!ok("http://127.0.0.1:8090/wikix/rest"), "prefix must end at a segment");
        assert!(!ok("http://127.0.0.1:8090/rest/api"), "outside the prefix");
        assert!(!ok("http://127.0.0.1:8090/wiki/../admin"), "dot segments");
        assert!(!ok("http://127.0.0.1:8090/wiki/%2E%2E/admin"), "encoded dot segments");
    }

    #[test]
    fn default_ports_match_explicit_ones() {
        let o = origin("https://Wiki.Example.com");
        assert!(o.admit(&"https://wiki.example.com:443/rest/api".parse().unwrap()).is_ok());
        assert_eq!(o.base_url(), "https://wiki.example.com");
    }

    #[test]
    fn a_password_in_the_base_url_is_never_repeated() {
        for password in ["pw", "p/w", "p?w", "p#w", "p@w", "p:w", "p%2Fw", "p w"] {
            // (settings give a scheme to a value without one before it gets here)
            for raw in [format!("https://ada:{password}@wiki.example.com/wiki"), format!("wiki://ada:{password}@x"), format!("http://ada:{password}@[::1]:8/")]
            {
                let error = Origin::parse(&raw).unwrap_err();
                assert!(!error.contains(password), "{password:?} repeated in {error:?}");
                assert!(!error.contains("ada:"), "{error:?}");
            }
        }
    }

    #[test]
    fn refuses_bad_base_urls() {
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("https://user:pw@x").is_err());
        assert!(Origin::parse("https://x/?q=1").is_err());
    }

    /// The spellings a server behind a context path would normalise out of it (or onto another
    /// resource) never leave; what the connector sends does.
    #[test]
    fn paths_are_judged_in_canonical_form() {
        let o = origin("http://127.0.0.1:8090/confluence");
        let ok = |path: &str| o.admit(&format!("http://127.0.0.1:8090{path}").parse().unwrap());
        for escape in [
            "/confluence/..;/x",
            "/confluence/%2e%2e;/x",
            "/confluence/..%2f..%2fx",
            "/confluence/..%2F..%2Fx",
            "/confluence/..%5cadmin",
            "/confluence/%252e%252e/x",
            "/confluence/%252f",
            "/confluence/.%2e/x",
            "/confluence;jsessionid=1/x",
            "/confluence/rest/%zz",
            "/confluence/rest/%2",
            "/confluence/%2e",
        ] {
            assert!(ok(escape).is_err(), "{escape} is refused");
        }
        for fine in [
            "/confluence/rest/api/group/100%25%20%231/member",
            "/confluence/rest/api/group/r%26d%20%2B%20ops/member",
            "/confluence/rest/api/space/%7Ezoe.angstrom",
            "/confluence/rest/api/user?username=a%2Fb",
            "/confluence/rest/api/group/%D7%A9%D7%9C%D7%95%D7%9D",
        ] {
            assert!(ok(fine).is_ok(), "{fine} is admitted: {:?}", ok(fine));
        }
        assert_eq!(canonical_path("/a/%7e%41b/%2b").unwrap(), "/a/~Ab/%2B", "unreserved decoded, others kept in upper case");
        assert!(o.admit(&"http://u:p@127.0.0.1:8090/confluence/rest".parse().unwrap()).is_err(), "user information in the authority");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Path-like strings, heavy on the characters that matter.
        fn path() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("/".to_string()),
                    Just(".".to_string()),
                    Just("..".to_string()),
                    Just(";".to_string()),
                    Just("\\".to_string()),
                    Just("%".to_string()),
                    Just("%2e".to_string()),
                    Just("%2F".to_string()),
                    Just("%25".to_string()),
                    Just("%5c".to_string()),
                    Just("wiki".to_string()),
                    "[a-zA-Z0-9~_-]{1,4}",
                    "%[0-9a-fA-F]{2}",
                ],
                0..12,
            )
            .prop_map(|parts| format!("/{}", parts.concat()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever the guest or a server makes of a path, what is admitted is canonical:
            /// no parameter, backslash, encoded separator or dot segment, and canonical again.
            #[test]
            fn admitted_paths_are_canonical(raw in path()) {
                if let Ok(canonical) = canonical_path(&raw) {
                    let lower = canonical.to_ascii_lowercase();
                    prop_assert!(!canonical.contains(';') && !canonical.contains('\\'));
                    prop_assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%3b") && !lower.contains("%2e"));
                    prop_assert!(!canonical.split('/').any(|s| s == "." || s == ".."));
                    prop_assert_eq!(canonical_path(&canonical), Ok(canonical.clone()));
                }
            }

            /// Only paths under the prefix are admitted, judged on the canonical path.
            #[test]
            fn nothing_outside_the_prefix_is_admitted(raw in path()) {
                let o = Origin::parse("http://127.0.0.1:8090/wiki").unwrap();
                let Ok(uri) = format!("http://127.0.0.1:8090{raw}").parse::<Uri>() else { return Ok(()) };
                if o.admit(&uri).is_ok() {
                    let canonical = canonical_path(uri.path()).unwrap();
                    prop_assert!(canonical == "/wiki" || canonical.starts_with("/wiki/"), "{} admitted as {}", raw, canonical);
                }
            }

            /// Any base URL either parses or is refused, and a refusal never repeats a password.
            #[test]
            fn base_urls_never_leak_their_password(user in "[a-z]{1,6}", password in "[ -~]{4,12}", host in "[a-z]{1,8}(\\.[a-z]{2,3})?") {
                let raw = format!("https://{user}:{password}@{host}/wiki");
                if let Err(error) = Origin::parse(&raw) {
                    prop_assert!(!error.contains(&password), "{error}");
                }
            }
        }
    }

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for host in ["localhost", "127.0.0.1", "127.8.9.1", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["wiki.example.com", "10.0.0.1", "fd00::1", "localhost.example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn ipv6_literal_origins_match_their_requests() {
        let o = origin("https://[FD00::1]:8443/confluence");
        assert_eq!(o.host, "fd00::1");
        assert_eq!(o.base_url(), "https://[fd00::1]:8443/confluence");
        assert!(o.admit(&"https://[fd00::1]:8443/confluence/rest/api".parse().unwrap()).is_ok());
        assert!(o.admit(&"https://[fd00::2]:8443/confluence/rest/api".parse().unwrap()).is_err());
    }
}
