//! Every credential this process holds, noted where it is read (the source's token or password,
//! a proxy's password, the client key, a registry password, a tenant's secrets, ConductorOne's
//! client secret and access tokens), so that text leaving the process — the debug log uploaded
//! to ConductorOne — is redacted of all of them, in every form formatting gives a string (as
//! given, escaped by `{:?}`, escaped as JSON).

use std::sync::Mutex;

/// Shorter values are not secrets worth redacting (they would mangle ordinary words).
const SHORTEST: usize = 4;

static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Notes a credential this process holds.
pub fn note(secret: &str) {
    if secret.len() < SHORTEST {
        return;
    }
    if let Ok(mut held) = HELD.lock()
        && !held.iter().any(|s| s == secret)
    {
        held.push(secret.to_string());
    }
}

/// Notes the password (and the whole user information) of a URL such as a proxy's.
pub fn note_url_password(url: &str) {
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password()
    {
        note(password);
        note(&percent_encoding::percent_decode_str(password).decode_utf8_lossy());
    }
}

/// Notes the proxy passwords of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, in
/// either case), which the client may use.
pub fn note_environment_proxies() {
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"] {
        if let Ok(value) = std::env::var(name) {
            note_url_password(&value);
        }
    }
}

/// Every credential noted so far.
pub fn held() -> Vec<String> {
    HELD.lock().map(|held| held.clone()).unwrap_or_default()
}

/// The forms a secret takes in formatted text: as given, escaped by `{:?}`, escaped as JSON.
pub fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string(), secret.escape_debug().to_string(), secret.escape_default().to_string()];
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').to_string());
    }
    forms.sort();
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_known_and_proxy_passwords_are_noted() {
        let forms = forms("pa\"ss\\wörd");
        for form in ["pa\"ss\\wörd", "pa\\\"ss\\\\wörd", "pa\\\"ss\\\\w\\u{f6}rd"] {
            assert!(forms.contains(&form.to_string()), "{form}: {forms:?}");
        }
        note_url_password("http://svc:s3cr%2Fet-canary@proxy.example:3128");
        let held = held();
        assert!(held.contains(&"s3cr%2Fet-canary".to_string()) && held.contains(&"s3cr/et-canary".to_string()), "{held:?}");
        note("ab");
        assert!(!super::held().contains(&"ab".to_string()), "too short to be a secret");
    }
}
