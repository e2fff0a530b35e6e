//! The per-sync key-value store kept by the host (the world's `kv` import), behind the
//! [`KeyValue`] trait: `HostKv` inside the component, the in-memory `MemoryKv` in test builds
//! only. It holds what one call learns and a later one needs (the detected server version,
//! userKey <-> username maps, emails, computed memberships); the key names are
//! `directory::keys`' (the server version's is `version`'s).

/// Get and set string values.
pub trait KeyValue {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&self, key: &str, value: &str);
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

#[cfg(test)]
pub use memory::MemoryKv;

/// The test double (test builds only).
#[cfg(test)]
mod memory {
    use super::KeyValue;
    use std::cell::RefCell;
    use std::collections::HashMap;

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
}
