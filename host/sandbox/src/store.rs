//! The per-sync key-value store behind the world's `kv` import: what one connector call learns
//! and a later one (on any instance) needs. It remembers which entries changed since the last
//! checkpoint, so a resumed sync gets them back from the `.c1z` work file.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The most the store may hold (keys and values) for one sync: the component is untrusted, and
/// the store lives in the host's memory and in every checkpoint.
pub const MAX_STORE_BYTES: usize = 128 << 20;

/// Values plus the keys changed since they were last taken for a checkpoint.
#[derive(Debug, Default)]
pub struct SyncStore {
    values: HashMap<String, String>,
    dirty: BTreeSet<String>,
    bytes: usize,
    /// A `set` was refused because it would have passed [`MAX_STORE_BYTES`].
    over: bool,
}

/// The store as the instances of one sync share it.
pub type SharedStore = Arc<Mutex<SyncStore>>;

impl SyncStore {
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }

    /// Stores `value` under `key`, unless that would pass [`MAX_STORE_BYTES`]: then nothing is
    /// stored and [`Self::is_over`] says so from then on (the sandbox stops the call).
    pub fn set(&mut self, key: String, value: String) {
        if self.values.get(&key) == Some(&value) {
            return;
        }
        let old = self.values.get(&key).map(|v| key.len() + v.len()).unwrap_or(0);
        let bytes = self.bytes - old + key.len() + value.len();
        if bytes > MAX_STORE_BYTES {
            self.over = true;
            return;
        }
        self.bytes = bytes;
        self.dirty.insert(key.clone());
        self.values.insert(key, value);
    }

    /// Whether the component tried to store more than [`MAX_STORE_BYTES`].
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The entries changed since the last call, for a checkpoint.
    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        let keys = std::mem::take(&mut self.dirty);
        keys.into_iter().filter_map(|k| self.values.get(&k).map(|v| (k, v.clone()))).collect()
    }

    /// Entries saved by an earlier run (not marked as changed).
    pub fn restore(&mut self, entries: Vec<(String, String)>) {
        for (key, value) in entries {
            self.bytes += key.len() + value.len();
            if let Some(old) = self.values.insert(key.clone(), value) {
                self.bytes -= key.len() + old.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_taken_once() {
        let mut store = SyncStore::default();
        store.restore(vec![("a".into(), "1".into())]);
        store.set("a".into(), "1".into());
        store.set("b".into(), "2".into());
        assert_eq!(store.take_changed(), vec![("b".to_string(), "2".to_string())]);
        assert!(store.take_changed().is_empty());
        assert_eq!(store.get("a").as_deref(), Some("1"));
    }

    #[test]
    fn the_store_refuses_to_grow_past_its_cap() {
        let mut store = SyncStore::default();
        let half = "x".repeat(MAX_STORE_BYTES / 2);
        store.set("a".into(), half.clone());
        store.set("a".into(), half.clone());
        assert!(!store.is_over(), "replacing a value counts it once");
        store.set("b".into(), half);
        assert!(store.is_over());
        assert!(store.get("b").is_none(), "nothing past the cap is kept");
        assert!(store.get("a").is_some());
    }
}
