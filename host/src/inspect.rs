//! Looking inside a `.c1z` without other tools: resource types, resources, entitlements, grants
//! and principals (who holds an entitlement, directly or through a group), as aligned tables or
//! JSON. Reads the sync that baton's tools would show by default. The JSON is the document the
//! official `baton` CLI prints for the same command (the same top-level key, each item the
//! messages it joins, in protobuf's JSON mapping), so scripts written against one work with the
//! other; what only we show (a principal's `via`) is an extra key of an item.

use anyhow::{Context, Result, bail};
use baton_c1z::protojson::to_json;
use baton_c1z::{C1zReader, find_annotation, pb};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;

/// Output format of the inspection commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Console,
    Json,
}

/// Rows printed in one format as they come. JSON is written item by item (built only when
/// asked for: protobuf JSON of every joined message is the costly part), so memory stays flat
/// however many grants a file holds; a table needs every row for its column widths and is
/// written at the end.
pub struct Listing<'a> {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    kind: &'static str,
    format: Format,
    out: &'a mut dyn Write,
    items: usize,
}

impl<'a> Listing<'a> {
    fn new(kind: &'static str, columns: Vec<&'static str>, format: Format, out: &'a mut dyn Write) -> Listing<'a> {
        Listing { columns, rows: Vec::new(), kind, format, out, items: 0 }
    }

    /// One row: its cells for a table, or its JSON item, indented for its place in
    /// `{"<kind>": [items]}` laid out as `serde_json::to_string_pretty` lays it out.
    fn push(&mut self, cells: Vec<String>, json: impl FnOnce() -> Value) -> Result<()> {
        self.items += 1;
        if self.format == Format::Console {
            self.rows.push(cells);
            return Ok(());
        }
        if self.items == 1 {
            write!(self.out, "{{\n  {}: [\n", Value::from(self.kind))?;
        } else {
            self.out.write_all(b",\n")?;
        }
        let text = serde_json::to_string_pretty(&json())?;
        for (n, line) in text.lines().enumerate() {
            if n > 0 {
                self.out.write_all(b"\n")?;
            }
            write!(self.out, "    {line}")?;
        }
        Ok(())
    }

    /// Writes what is left (the end of the document, or the whole table); the number of rows.
    pub fn finish(self) -> Result<usize> {
        match (self.format, self.items) {
            (Format::Json, 0) => write!(self.out, "{{\n  {}: []\n}}\n", Value::from(self.kind))?,
            (Format::Json, _) => self.out.write_all(b"\n  ]\n}\n")?,
            (Format::Console, _) => self.out.write_all(aligned_table(&self.columns, &self.rows).as_bytes())?,
        }
        self.out.flush()?;
        Ok(self.items)
    }
}

/// Columns padded to the widest cell, measured in terminal columns (a CJK character takes
/// two, a combining mark none).
pub(crate) fn aligned_table(columns: &[&str], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = columns.iter().map(|c| c.width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.width()))).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(columns.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Refuses `given` when it is not among `known`, naming the near matches (or, when none is
/// near, what there is): `what` says what it is (`resource type`), `list` the command that lists them.
fn check_known(what: &str, given: &str, known: &[String], list: &str) -> Result<()> {
    if known.iter().any(|k| k == given) {
        return Ok(());
    }
    let mut near: Vec<(f64, &String)> =
        known.iter().map(|k| (strsim::jaro_winkler(&given.to_lowercase(), &k.to_lowercase()), k)).filter(|(score, _)| *score >= 0.8).collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let near: Vec<&str> = near.iter().take(5).map(|(_, k)| k.as_str()).collect();
    if !near.is_empty() {
        bail!("no {what} {given:?} in this file; did you mean {}? (the {list} command lists them)", near.join(", "));
    }
    if known.len() <= 10 {
        bail!("no {what} {given:?} in this file; it has {}", known.join(", "));
    }
    bail!("no {what} {given:?} in this file (the {list} command lists the {} there are)", known.len());
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

/// The resource types and resources of a file by id, for the items that join them (as baton's
/// tools join them: an entitlement with its resource and that resource's type).
struct Joined {
    types: BTreeMap<String, pb::ResourceType>,
    resources: BTreeMap<String, pb::Resource>,
}

impl Joined {
    fn read(reader: &C1zReader) -> Result<Joined> {
        let resources = reader.resources(None)?.into_iter().map(|r| (id_text(r.id.as_ref()), r)).collect();
        Ok(Joined { resources, ..Joined::types_only(reader)? })
    }

    /// The resource types alone, for listings that join nothing else.
    fn types_only(reader: &C1zReader) -> Result<Joined> {
        let types = reader.resource_types()?.into_iter().map(|rt| (rt.id.clone(), rt)).collect();
        Ok(Joined { types, resources: BTreeMap::new() })
    }

    fn type_ids(&self) -> Vec<String> {
        self.types.keys().cloned().collect()
    }

    /// The type's JSON, or null when the file lacks it.
    fn resource_type(&self, id: &str) -> Value {
        self.types.get(id).map(to_json).unwrap_or(Value::Null)
    }

    /// The resource's JSON (`type:id`), or null when the file lacks it.
    fn resource(&self, id: &str) -> Value {
        self.resources.get(id).map(to_json).unwrap_or(Value::Null)
    }

    /// `{"entitlement", "resource", "resourceType"}` of an entitlement.
    fn entitlement_item(&self, entitlement: &pb::Entitlement) -> Value {
        let id = entitlement.resource.as_ref().and_then(|r| r.id.as_ref());
        self.entitlement_item_with(entitlement, self.resource(&id_text(id)))
    }

    /// [`entitlement_item`](Self::entitlement_item) with its resource's JSON found elsewhere.
    fn entitlement_item_with(&self, entitlement: &pb::Entitlement, resource: Value) -> Value {
        let id = entitlement.resource.as_ref().and_then(|r| r.id.as_ref());
        json!({
            "entitlement": to_json(entitlement),
            "resource": resource,
            "resourceType": self.resource_type(id.map(|i| i.resource_type.as_str()).unwrap_or_default()),
        })
    }
}

/// `resource-types`.
pub fn resource_types<'a>(reader: &C1zReader, format: Format, out: &'a mut dyn Write) -> Result<Listing<'a>> {
    let mut listing = Listing::new("resourceTypes", vec!["ID", "DISPLAY NAME", "TRAITS"], format, out);
    for rt in reader.resource_types()? {
        let traits = trait_names(&rt);
        listing.push(vec![rt.id.clone(), rt.display_name.clone(), traits.join(",")], || json!({"resourceType": to_json(&rt)}))?;
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
pub fn resources<'a>(reader: &C1zReader, resource_type: Option<&str>, format: Format, out: &'a mut dyn Write) -> Result<Listing<'a>> {
    let types = Joined::types_only(reader)?;
    if let Some(given) = resource_type {
        check_known("resource type", given, &types.type_ids(), "resource-types")?;
    }
    let mut listing = Listing::new("resources", vec!["TYPE", "ID", "DISPLAY NAME", "STATUS", "EMAIL"], format, out);
    for r in reader.resources(resource_type)? {
        let id = r.id.clone().unwrap_or_default();
        let (status, emails) = (status_name(&r), emails(&r));
        let json = || json!({"resource": to_json(&r), "resourceType": types.resource_type(&id.resource_type)});
        listing.push(vec![id.resource_type.clone(), id.resource.clone(), r.display_name.clone(), status, emails.join(",")], json)?;
    }
    Ok(listing)
}

/// `entitlements [--resource-type T]`.
pub fn entitlements<'a>(reader: &C1zReader, resource_type: Option<&str>, format: Format, out: &'a mut dyn Write) -> Result<Listing<'a>> {
    let joined = Joined::read(reader)?;
    if let Some(given) = resource_type {
        check_known("resource type", given, &joined.type_ids(), "resource-types")?;
    }
    let mut listing = Listing::new("entitlements", vec!["ID", "RESOURCE", "DISPLAY NAME", "PURPOSE", "GRANTABLE TO"], format, out);
    for e in reader.entitlements()? {
        let resource = id_text(e.resource.as_ref().and_then(|r| r.id.as_ref()));
        if resource_type.is_some_and(|t| !resource.starts_with(&format!("{t}:"))) {
            continue;
        }
        let purpose = pb::entitlement::PurposeValue::try_from(e.purpose).map(|p| p.as_str_name().to_string()).unwrap_or_default();
        let grantable: Vec<String> = e.grantable_to.iter().map(|t| t.id.clone()).collect();
        listing.push(vec![e.id.clone(), resource, e.display_name.clone(), purpose, grantable.join(",")], || joined.entitlement_item(&e))?;
    }
    Ok(listing)
}

fn entitlement_ids(reader: &C1zReader) -> Result<Vec<String>> {
    Ok(reader.entitlements()?.into_iter().map(|e| e.id).collect())
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

/// `grants [--entitlement E] [--principal TYPE:ID]`. Memory stays flat however many grants the
/// file has: each grant's entitlement and principal are looked up in the file as it is printed
/// (grants come grouped by entitlement, so the last entitlement's item is kept for the next).
pub fn grants<'a>(reader: &C1zReader, entitlement: Option<&str>, principal: Option<&str>, format: Format, out: &'a mut dyn Write) -> Result<Listing<'a>> {
    if let Some(given) = entitlement
        && reader.entitlement(given)?.is_none()
    {
        check_known("entitlement", given, &entitlement_ids(reader)?, "entitlements")?;
    }
    if let Some(given) = principal
        && reader.resource(given)?.is_none()
    {
        let ids: Vec<String> = reader.resources(None)?.iter().map(|r| id_text(r.id.as_ref())).collect();
        check_known("resource", given, &ids, "resources")?;
    }
    let types = Joined::types_only(reader)?;
    let resource_json = |who: &str| -> Result<Value> { Ok(reader.resource(who)?.as_ref().map(to_json).unwrap_or(Value::Null)) };
    let mut last_entitlement: Option<(String, Value)> = None;
    let mut listing = Listing::new("grants", vec!["ENTITLEMENT", "PRINCIPAL", "EXPANDS TO MEMBERS OF"], format, out);
    reader.each_grant(|g| {
        let (ent, who) = (entitlement_of(&g), principal_of(&g));
        if entitlement.is_some_and(|e| e != ent) || principal.is_some_and(|p| p != who) {
            return Ok(());
        }
        let cells = vec![ent.clone(), who.clone(), expansion_of(&g).join(",")];
        if format == Format::Console {
            return listing.push(cells, || Value::Null);
        }
        if last_entitlement.as_ref().is_none_or(|(id, _)| *id != ent) {
            let item = match reader.entitlement(&ent)? {
                Some(full) => {
                    let id = full.resource.as_ref().and_then(|r| r.id.as_ref());
                    let resource = resource_json(&id_text(id))?;
                    types.entitlement_item_with(&full, resource)
                }
                None => json!({}),
            };
            last_entitlement = Some((ent.clone(), item));
        }
        let mut json = last_entitlement.as_ref().map(|(_, item)| item.clone()).unwrap_or_default();
        json["grant"] = to_json(&g);
        json["principal"] = resource_json(&who)?;
        listing.push(cells, || json)
    })?;
    Ok(listing)
}

/// `principals --entitlement E`: every principal holding E directly, and the members of every
/// group holding it (transitively), with the path by which they hold it.
pub fn principals<'a>(reader: &C1zReader, entitlement: &str, format: Format, out: &'a mut dyn Write) -> Result<Listing<'a>> {
    let all = reader.grants()?;
    let mut by_entitlement: BTreeMap<String, Vec<&pb::Grant>> = BTreeMap::new();
    for g in &all {
        by_entitlement.entry(entitlement_of(g)).or_default().push(g);
    }
    if !by_entitlement.contains_key(entitlement) {
        check_known("entitlement", entitlement, &entitlement_ids(reader)?, "entitlements")?;
    }
    let joined = Joined::read(reader)?;
    let mut listing = Listing::new("resources", vec!["PRINCIPAL", "DISPLAY NAME", "VIA"], format, out);
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
                let name = joined.resources.get(&who).map(|r| r.display_name.clone()).unwrap_or_default();
                let resource_type = who.split_once(':').map(|(t, _)| t).unwrap_or_default();
                let json = || json!({"resource": joined.resource(&who), "resourceType": joined.resource_type(resource_type), "via": via});
                listing.push(vec![who.clone(), name, via.clone()], json)?;
            }
            for source in expansion_of(g) {
                queue.push_back((source, format!("member of {who}")));
            }
        }
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_keep_the_columns_aligned() {
        let rows = vec![vec!["山田太郎".to_string(), "x".to_string()], vec!["Ada".to_string(), "y".to_string()]];
        let table = aligned_table(&["NAME", "ID"], &rows);
        let starts: Vec<usize> = table.lines().map(|line| unicode_width::UnicodeWidthStr::width(&line[..line.rfind(' ').unwrap() + 1])).collect();
        assert_eq!(starts, vec![10, 10, 10], "the second column starts at the same display column:\n{table}");
    }

    #[test]
    fn a_typo_names_the_near_matches_and_an_unknown_name_what_there_is() {
        let known: Vec<String> = ["user", "group", "space", "anonymous"].map(String::from).into();
        assert!(check_known("resource type", "user", &known, "resource-types").is_ok());
        let typo = check_known("resource type", "users", &known, "resource-types").unwrap_err().to_string();
        assert_eq!(typo, "no resource type \"users\" in this file; did you mean user? (the resource-types command lists them)");
        let unknown = check_known("resource type", "page", &known, "resource-types").unwrap_err().to_string();
        assert_eq!(unknown, "no resource type \"page\" in this file; it has user, group, space, anonymous");
        let many: Vec<String> = (0..50).map(|i| format!("group:team-{i}")).collect();
        let far = check_known("resource", "user:zed", &many, "resources").unwrap_err().to_string();
        assert_eq!(far, "no resource \"user:zed\" in this file (the resources command lists the 50 there are)");
    }
}
