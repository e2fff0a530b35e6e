//! The byte and row budgets of a sync, so that whatever a component returns, the host's memory
//! and the output's disk stay bounded: what one resource's entitlements and grants may hold in
//! memory until they are written, and what one sync may write in all (rows, bytes). Sizes are
//! counted as the host holds what the component returned: each string's bytes plus each item's
//! own size. (One call's data is bounded by the sandbox, page tokens by the engine's
//! page-token budget.) Past a budget the sync stops with "resource exhausted", naming the
//! budget and the setting that raises it; the previous output is kept.

use baton_sandbox::wit;
use serde::{Deserialize, Serialize};

/// How much a sync may hold and write. The defaults leave a site of a million memberships
/// (about 1.1 million rows, 0.5 GiB as returned) room many times over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// The most bytes one resource's entitlements and grants may hold before they are written.
    /// The sync's instances fetch resources at once, so the host may hold this times the
    /// sync's concurrency.
    pub resource_bytes: u64,
    /// The most rows (resource types, resources, entitlements, grants) one sync may write.
    pub sync_rows: u64,
    /// The most bytes of rows one sync may write.
    pub sync_bytes: u64,
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets { resource_bytes: DEFAULT_RESOURCE_MIB << 20, sync_rows: DEFAULT_SYNC_ROWS, sync_bytes: DEFAULT_SYNC_MIB << 20 }
    }
}

/// [`Budgets::resource_bytes`] by default, in MiB: about 650,000 grants of one resource.
pub const DEFAULT_RESOURCE_MIB: u64 = 256;
/// [`Budgets::sync_rows`] by default.
pub const DEFAULT_SYNC_ROWS: u64 = 20_000_000;
/// [`Budgets::sync_bytes`] by default, in MiB.
pub const DEFAULT_SYNC_MIB: u64 = 8192;

/// A budget used up.
#[derive(Debug, thiserror::Error)]
#[error("resource exhausted: {what}, over the budget of {limit} {unit} ({setting}); stopping")]
pub struct Exhausted {
    what: String,
    limit: u64,
    unit: &'static str,
    setting: &'static str,
}

impl Budgets {
    /// Refuses `held` bytes of one resource's entitlements and grants past its budget.
    pub(crate) fn check_resource(&self, call: &str, held: u64) -> Result<(), Exhausted> {
        if held <= self.resource_bytes {
            return Ok(());
        }
        Err(Exhausted {
            what: format!("{call} returned more than {} MiB of entitlements or grants for one resource", self.resource_bytes >> 20),
            limit: self.resource_bytes >> 20,
            unit: "MiB held for one resource",
            setting: "--max-resource-mb, or limits.max_resource_mb of a tenant",
        })
    }
}

/// What a sync has written so far; saved with each checkpoint, so a resumed sync counts what it
/// resumed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub rows: u64,
    pub bytes: u64,
}

impl Tally {
    /// Counts `rows` more rows of `bytes`, refusing them past the sync's budgets.
    pub(crate) fn add(&mut self, rows: u64, bytes: u64, budgets: &Budgets) -> Result<(), Exhausted> {
        let (rows, bytes) = (self.rows.saturating_add(rows), self.bytes.saturating_add(bytes));
        if rows > budgets.sync_rows {
            return Err(Exhausted {
                what: format!("the sync would write more than {} rows", budgets.sync_rows),
                limit: budgets.sync_rows,
                unit: "rows",
                setting: "--max-sync-rows, or limits.max_sync_rows of a tenant",
            });
        }
        if bytes > budgets.sync_bytes {
            return Err(Exhausted {
                what: format!("the sync would write more than {} MiB of rows", budgets.sync_bytes >> 20),
                limit: budgets.sync_bytes >> 20,
                unit: "MiB",
                setting: "--max-sync-mb, or limits.max_sync_mb of a tenant",
            });
        }
        *self = Tally { rows, bytes };
        Ok(())
    }

    /// Counts everything in `items`.
    pub(crate) fn add_all<T: Weigh>(&mut self, items: &[T], budgets: &Budgets) -> Result<(), Exhausted> {
        self.add(items.len() as u64, weight_of(items), budgets)
    }
}

/// The bytes `items` hold.
pub(crate) fn weight_of<T: Weigh>(items: &[T]) -> u64 {
    items.iter().map(Weigh::weight).sum()
}

/// How many bytes the host holds for one item a component returned.
pub(crate) trait Weigh {
    fn weight(&self) -> u64;
}

/// Bytes of the text in `strings`.
fn text(strings: &[&str]) -> u64 {
    strings.iter().map(|s| s.len() as u64).sum()
}

fn own_size<T>(_: &T) -> u64 {
    std::mem::size_of::<T>() as u64
}

fn strings_in(list: &[String]) -> u64 {
    list.iter().map(|s| s.len() as u64 + std::mem::size_of::<String>() as u64).sum()
}

impl Weigh for wit::ResourceId {
    fn weight(&self) -> u64 {
        text(&[&self.resource_type, &self.resource])
    }
}

impl Weigh for wit::ResourceType {
    fn weight(&self) -> u64 {
        own_size(self) + text(&[&self.id, &self.display_name, &self.description]) + self.traits.len() as u64
    }
}

impl Weigh for wit::Resource {
    fn weight(&self) -> u64 {
        let user = self.user.as_ref().map_or(0, |u| text(&[&u.login]) + u.emails.iter().map(|e| own_size(e) + e.address.len() as u64).sum::<u64>());
        let group = self.group.as_ref().map_or(0, |g| g.source.len() as u64);
        let profile: u64 = self
            .profile
            .iter()
            .map(|field| {
                let value = match &field.value {
                    wit::ProfileValue::Text(text) => text.len() as u64,
                    wit::ProfileValue::Number(_) | wit::ProfileValue::Flag(_) => 0,
                };
                own_size(field) + field.key.len() as u64 + value
            })
            .sum();
        own_size(self)
            + self.id.weight()
            + self.parent.as_ref().map_or(0, Weigh::weight)
            + text(&[&self.display_name, &self.description])
            + self.external_link.as_ref().map_or(0, |l| l.len() as u64)
            + user
            + group
            + profile
    }
}

impl Weigh for wit::Entitlement {
    fn weight(&self) -> u64 {
        own_size(self) + text(&[&self.id, &self.slug, &self.display_name, &self.description]) + strings_in(&self.grantable_to)
    }
}

impl Weigh for wit::Grant {
    fn weight(&self) -> u64 {
        let expansion = self.expansion.as_ref().map_or(0, |e| own_size(e) + strings_in(&e.entitlement_ids) + strings_in(&e.resource_type_ids));
        own_size(self) + text(&[&self.id, &self.entitlement_id]) + self.entitlement_resource.weight() + self.principal.weight() + expansion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str) -> wit::Grant {
        let rid = |t: &str, r: &str| wit::ResourceId { resource_type: t.into(), resource: r.into() };
        wit::Grant {
            id: id.into(),
            entitlement_id: "group:eng:member".into(),
            entitlement_resource: rid("group", "eng"),
            principal: rid("user", "ada"),
            expansion: None,
        }
    }

    #[test]
    fn a_grants_weight_grows_with_its_text() {
        let small = grant("g").weight();
        assert_eq!(grant(&"g".repeat(1001)).weight(), small + 1000);
        assert!(small >= std::mem::size_of::<wit::Grant>() as u64);
    }

    #[test]
    fn a_sync_stops_at_its_row_and_byte_budgets_naming_the_setting() {
        let budgets = Budgets { resource_bytes: 1 << 20, sync_rows: 3, sync_bytes: 10 << 20 };
        let mut tally = Tally::default();
        tally.add(3, 100, &budgets).unwrap();
        let refused = tally.add(1, 1, &budgets).unwrap_err().to_string();
        assert!(refused.contains("resource exhausted") && refused.contains("--max-sync-rows") && refused.contains("max_sync_rows"), "{refused}");
        assert_eq!(tally, Tally { rows: 3, bytes: 100 }, "a refused count is not added");
        let refused = tally.add(0, 10 << 20, &budgets).unwrap_err().to_string();
        assert!(refused.contains("10 MiB") && refused.contains("--max-sync-mb"), "{refused}");
    }

    #[test]
    fn one_resource_may_hold_up_to_its_budget() {
        let budgets = Budgets { resource_bytes: 2 << 20, ..Budgets::default() };
        budgets.check_resource("list-grants(group:eng)", 2 << 20).unwrap();
        let refused = budgets.check_resource("list-grants(group:eng)", (2 << 20) + 1).unwrap_err().to_string();
        assert!(refused.contains("list-grants(group:eng) returned more than 2 MiB") && refused.contains("--max-resource-mb"), "{refused}");
    }
}
