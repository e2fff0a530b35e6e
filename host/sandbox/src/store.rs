//! The per-sync key-value store behind the world's `kv` import: what one connector call learns
//! and a later one (on any instance) needs. It remembers which entries changed since the last
//! checkpoint, so a resumed sync gets them back from the `.c1z` work file.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Values plus the keys changed since they were last taken for a checkpoint.
#[derive(Debug, Default)]
pub struct SyncStore {
    values: HashMap<String, String>,
    dirty: BTreeSet<String>,
}

/// The store as the instances of one sync share it.
pub type SharedStore = Arc<Mutex<SyncStore>>;

impl SyncStore {
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }

    pub fn set(&mut self, key: String, value: String) {
        if self.values.get(&key) != Some(&value) {
            self.dirty.insert(key.clone());
            self.values.insert(key, value);
        }
    }

    /// The entries changed since the last call, for a checkpoint.
    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        let keys = std::mem::take(&mut self.dirty);
        keys.into_iter().filter_map(|k| self.values.get(&k).map(|v| (k, v.clone()))).collect()
    }

    /// Entries saved by an earlier run (not marked as changed).
    pub fn restore(&mut self, entries: Vec<(String, String)>) {
        self.values.extend(entries);
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
}
