//! Which tenants one replica of the runner takes when several share one tenants file (a
//! Kubernetes StatefulSet): tenant `t` belongs to replica `hash(t) mod replicas`, with a hash
//! that is the same on every machine and every release (the first 8 bytes of SHA-256), so each
//! tenant has exactly one replica and a replica count change moves only the tenants whose
//! remainder changes.

use sha2::{Digest, Sha256};

/// This replica's place: `ordinal` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub ordinal: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard { ordinal: 0, count: 1 }
    }
}

impl Shard {
    /// `ordinal` of `count`, or what is wrong with them.
    pub fn new(ordinal: u64, count: u64) -> Result<Shard, String> {
        if count == 0 {
            return Err("the replica count must be at least 1".into());
        }
        if ordinal >= count {
            return Err(format!("replica {ordinal} does not exist among {count} replicas (ordinals start at 0)"));
        }
        Ok(Shard { ordinal, count })
    }

    /// Whether this replica runs `tenant`.
    pub fn takes(&self, tenant: &str) -> bool {
        stable_hash(tenant) % self.count == self.ordinal
    }
}

fn stable_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The ordinal a StatefulSet gives a pod in its name (`runner-3` -> 3).
pub fn ordinal_of_pod(name: &str) -> Option<u64> {
    name.rsplit_once('-')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_has_exactly_one_replica() {
        let names: Vec<String> = (0..200).map(|n| format!("tenant-{n}")).collect();
        for count in 1..=5 {
            let shards: Vec<Shard> = (0..count).map(|ordinal| Shard::new(ordinal, count).unwrap()).collect();
            for name in &names {
                assert_eq!(shards.iter().filter(|s| s.takes(name)).count(), 1, "{name} among {count}");
            }
            let smallest = shards.iter().map(|s| names.iter().filter(|n| s.takes(n)).count()).min().unwrap();
            assert!(smallest as u64 >= 200 / count / 2, "a fair spread among {count}: the smallest share is {smallest}");
        }
    }

    #[test]
    fn the_hash_does_not_change_between_releases() {
        // Pinned: a change here would move tenants between replicas on upgrade.
        assert_eq!(stable_hash("acme"), 0x822b_33ad_87c1_48a0);
    }

    #[test]
    fn pod_names_give_ordinals_and_bad_places_are_refused() {
        assert_eq!(ordinal_of_pod("baton-runner-12"), Some(12));
        assert_eq!(ordinal_of_pod("runner"), None);
        assert!(Shard::new(3, 3).unwrap_err().contains("does not exist"));
        assert!(Shard::new(0, 0).is_err());
    }
}
