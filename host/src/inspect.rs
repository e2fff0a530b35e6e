//! Looking inside a `.c1z` without other tools: resource types, resources, entitlements, grants
//! and principals (who holds an entitlement, directly or through a group), as aligned tables or
//! JSON. Reads the sync that baton's tools would show by default.

use anyhow::{Context, Result, bail};
use baton_c1z::{C1zReader, find_annotation, pb};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Output format of the inspection commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Console,
    Json,
}

/// Rows to print: column names, cells, and the same rows as JSON objects.
pub struct Listing {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    json: Vec<Value>,
    kind: &'static str,
}

impl Listing {
    fn new(kind: &'static str, columns: Vec<&'static str>) -> Listing {
        Listing { columns, rows: Vec::new(), json: Vec::new(), kind }
    }

    fn push(&mut self, cells: Vec<String>, json: Value) {
        self.rows.push(cells);
        self.json.push(json);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The listing in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(&json!({ self.kind: self.json })).unwrap_or_default() + "\n",
            Format::Console => aligned_table(&self.columns, &self.rows),
        }
    }
}

pub(crate) fn aligned_table(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(columns.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Opens a `.c1z` for inspection with an error that says what to do.
pub fn open(path: &Path) -> Result<C1zReader> {
    C1zReader::open(path).with_context(|| format!("cannot read {}", path.display()))
}

fn id_text(id: Option<&pb::ResourceId>) -> String {
    id.map(|i| format!("{}:{}", i.resource_type, i.resource)).unwrap_or_default()
}

fn trait_names(rt: &pb::ResourceType) -> Vec<String> {
    rt.traits.iter().map(|t| pb::resource_type::Trait::try_from(*t).map(|t| t.as_str_name().to_string()).unwrap_or_else(|_| t.to_string())).collect()
}

/// `resource-types`.
pub fn resource_types(reader: &C1zReader) -> Result<Listing> {
    let mut listing = Listing::new("resourceTypes", vec!["ID", "DISPLAY NAME", "TRAITS"]);
    for rt in reader.resource_types()? {
        let traits = trait_names(&rt);
        listing.push(vec![rt.id.clone(), rt.display_name.clone(), traits.join(",")], json!({"id": rt.id, "displayName": rt.display_name, "traits": traits}));
    }
    Ok(listing)
}

fn status_name(resource: &pb::Resource) -> String {
    let status = resource.status.as_ref().map(|s| s.status).unwrap_or(0);
    match pb::ResourceStatus::try_from(status) {
        Ok(pb::ResourceStatus::Enabled) => "enabled",
        Ok(pb::ResourceStatus::Disabled) => "disabled",
        Ok(pb::ResourceStatus::Deleted) => "deleted",
        _ => "",
    }
    .to_string()
}

fn emails(resource: &pb::Resource) -> Vec<String> {
    find_annotation::<pb::UserTrait>(&resource.annotations).ok().flatten().map(|t| t.emails.into_iter().map(|e| e.address).collect()).unwrap_or_default()
}

/// `resources [--resource-type T]`.
pub fn resources(reader: &C1zReader, resource_type: Option<&str>) -> Result<Listing> {
    let mut listing = Listing::new("resources", vec!["TYPE", "ID", "DISPLAY NAME", "STATUS", "EMAIL"]);
    for r in reader.resources(resource_type)? {
        let id = r.id.clone().unwrap_or_default();
        let (status, emails) = (status_name(&r), emails(&r));
        listing.push(
            vec![id.resource_type.clone(), id.resource.clone(), r.display_name.clone(), status.clone(), emails.join(",")],
            json!({"resourceType": id.resource_type, "id": id.resource, "displayName": r.display_name, "description": r.description,
                   "status": status, "emails": emails, "parent": r.parent_resource_id.as_ref().map(|p| id_text(Some(p)))}),
        );
    }
    Ok(listing)
}

/// `entitlements [--resource-type T]`.
pub fn entitlements(reader: &C1zReader, resource_type: Option<&str>) -> Result<Listing> {
    let mut listing = Listing::new("entitlements", vec!["ID", "RESOURCE", "DISPLAY NAME", "PURPOSE", "GRANTABLE TO"]);
    for e in reader.entitlements()? {
        let resource = id_text(e.resource.as_ref().and_then(|r| r.id.as_ref()));
        if resource_type.is_some_and(|t| !resource.starts_with(&format!("{t}:"))) {
            continue;
        }
        let purpose = pb::entitlement::PurposeValue::try_from(e.purpose).map(|p| p.as_str_name().to_string()).unwrap_or_default();
        let grantable: Vec<String> = e.grantable_to.iter().map(|t| t.id.clone()).collect();
        listing.push(
            vec![e.id.clone(), resource.clone(), e.display_name.clone(), purpose.clone(), grantable.join(",")],
            json!({"id": e.id, "resource": resource, "slug": e.slug, "displayName": e.display_name, "description": e.description,
                   "purpose": purpose, "grantableTo": grantable}),
        );
    }
    Ok(listing)
}

fn expansion_of(grant: &pb::Grant) -> Vec<String> {
    find_annotation::<pb::GrantExpandable>(&grant.annotations).ok().flatten().map(|e| e.entitlement_ids).unwrap_or_default()
}

fn principal_of(grant: &pb::Grant) -> String {
    id_text(grant.principal.as_ref().and_then(|p| p.id.as_ref()))
}

fn entitlement_of(grant: &pb::Grant) -> String {
    grant.entitlement.as_ref().map(|e| e.id.clone()).unwrap_or_default()
}

/// `grants [--entitlement E] [--principal TYPE:ID]`.
pub fn grants(reader: &C1zReader, entitlement: Option<&str>, principal: Option<&str>) -> Result<Listing> {
    let mut listing = Listing::new("grants", vec!["ENTITLEMENT", "PRINCIPAL", "EXPANDS TO MEMBERS OF"]);
    for g in reader.grants()? {
        let (ent, who) = (entitlement_of(&g), principal_of(&g));
        if entitlement.is_some_and(|e| e != ent) || principal.is_some_and(|p| p != who) {
            continue;
        }
        let expansion = expansion_of(&g);
        listing.push(
            vec![ent.clone(), who.clone(), expansion.join(",")],
            json!({"id": g.id, "entitlement": ent, "principal": who, "expandsToMembersOf": expansion}),
        );
    }
    Ok(listing)
}

/// `principals --entitlement E`: every principal holding E directly, and the members of every
/// group holding it (transitively), with the path by which they hold it.
pub fn principals(reader: &C1zReader, entitlement: &str) -> Result<Listing> {
    let all = reader.grants()?;
    let mut by_entitlement: BTreeMap<String, Vec<&pb::Grant>> = BTreeMap::new();
    for g in &all {
        by_entitlement.entry(entitlement_of(g)).or_default().push(g);
    }
    if !by_entitlement.contains_key(entitlement) && !reader.entitlements()?.iter().any(|e| e.id == entitlement) {
        bail!("no entitlement {entitlement:?} in this file: list them with the entitlements command");
    }
    let names: BTreeMap<String, String> = reader.resources(None)?.into_iter().map(|r| (id_text(r.id.as_ref()), r.display_name)).collect();
    let mut listing = Listing::new("principals", vec!["PRINCIPAL", "DISPLAY NAME", "VIA"]);
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(entitlement.to_string(), String::from("direct"))]);
    let mut expanded = BTreeSet::new();
    while let Some((current, via)) = queue.pop_front() {
        if !expanded.insert(current.clone()) {
            continue;
        }
        for g in by_entitlement.get(&current).map(Vec::as_slice).unwrap_or_default() {
            let who = principal_of(g);
            if seen.insert(who.clone()) {
                let name = names.get(&who).cloned().unwrap_or_default();
                listing.push(vec![who.clone(), name.clone(), via.clone()], json!({"principal": who, "displayName": name, "via": via}));
            }
            for source in expansion_of(g) {
                queue.push_back((source, format!("member of {who}")));
            }
        }
    }
    Ok(listing)
}
