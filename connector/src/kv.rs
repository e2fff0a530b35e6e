//! The per-sync key-value store kept by the host (the world's `kv` import), behind a trait so
//! unit tests use a map. Holds what one call learns and a later one needs: the detected server
//! version, userKey <-> username maps, emails, computed memberships.

use std::cell::RefCell;
use std::collections::HashMap;

/// Get and set string values.
pub trait KeyValue {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&self, key: &str, value: &str);
}

/// An in-memory store, for tests.
#[derive(Default)]
pub struct MemoryKv(RefCell<HashMap<String, String>>);

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }

    fn set(&self, key: &str, value: &str) {
        self.0.borrow_mut().insert(key.to_string(), value.to_string());
    }
}

/// The host's store (inside the component only).
#[cfg(target_arch = "wasm32")]
pub struct HostKv;

#[cfg(target_arch = "wasm32")]
impl KeyValue for HostKv {
    fn get(&self, key: &str) -> Option<String> {
        crate::baton::connector::kv::get(key)
    }

    fn set(&self, key: &str, value: &str) {
        crate::baton::connector::kv::set(key, value)
    }
}

/// Key of the username of a userKey.
pub fn username_of_key(user_key: &str) -> String {
    format!("user-key:{user_key}")
}

/// Key of the userKey of a username.
pub fn key_of_username(username: &str) -> String {
    format!("username:{username}")
}

/// Key of a user's email.
pub fn email_of(username: &str) -> String {
    format!("email:{username}")
}
