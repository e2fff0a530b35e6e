//! The official `baton` CLI (v0.7.27) as the reader of our files, and both Go connector releases
//! as the peers whose ids we keep, both from `../shared/peers` (unpacked into `target/peers` by
//! `make test`). On every version profile baton's counts and ids are ours; our `-o json` is
//! baton's document (every value baton prints, ours prints the same; ours may add keys);
//! `baton access` is our `principals`' direct holders; `baton export` works; and every resource,
//! entitlement and grant id each Go connector release writes for the plain dataset is in ours
//! under that release's `--compat` profile, with every field it writes of users and groups.
//! Without `../shared` these tests say loudly that they skipped.

use crate::util::{run_host, run_on, target_dir, without_colours};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator, VERSION_PROFILES};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/peers`, unpacked when `../shared/peers` exists; none (and a loud notice) otherwise.
pub(crate) fn peers() -> Option<PathBuf> {
    let dir = target_dir().join("peers");
    let install = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/install.sh");
    if !dir.join("baton-confluence-datacenter-newest").is_file() && install.is_file() {
        let status = Command::new(&install).arg(&dir).stdout(std::process::Stdio::null()).status().unwrap();
        assert!(status.success(), "{} failed", install.display());
    }
    if ["baton", "baton-confluence-datacenter", "baton-confluence-datacenter-newest"].iter().all(|b| dir.join(b).is_file()) {
        return Some(dir);
    }
    eprintln!("\n*** SKIPPED: the official baton CLI and the Go connector are not here ({} is absent); these checks did not run ***\n", install.display());
    None
}

fn baton(peers: &Path, args: &[&str]) -> String {
    let out = Command::new(peers.join("baton")).args(args).output().unwrap();
    assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn baton_json(peers: &Path, args: &[&str]) -> Value {
    let text = baton(peers, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("baton {args:?} printed no JSON ({e}): {text}"))
}

fn our_json(args: &[&str]) -> Value {
    let run = run_host(args, &[]);
    assert!(run.success, "{args:?}: {}", run.output());
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", run.stdout))
}

/// `baton stats`: {type or kind: count} (a console table; its colours stripped).
pub(crate) fn stats(peers: &Path, file: &str) -> BTreeMap<String, usize> {
    let text = baton(peers, &["stats", "-f", file]);
    let mut counts = BTreeMap::new();
    for line in without_colours(&text).lines() {
        if let Some((kind, count)) = line.split_once('|')
            && let Ok(count) = count.trim().parse()
        {
            counts.insert(kind.trim().to_string(), count);
        }
    }
    counts
}

/// The id of an item of a baton document: `type:id` for resources, the id otherwise.
fn item_id(item: &Value) -> String {
    for key in ["grant", "entitlement"] {
        if let Some(id) = item[key]["id"].as_str() {
            return id.to_string();
        }
    }
    if item["resource"].is_object() {
        return format!("{}:{}", item["resource"]["id"]["resourceType"].as_str().unwrap(), item["resource"]["id"]["resource"].as_str().unwrap());
    }
    item["resourceType"]["id"].as_str().unwrap().to_string()
}

fn ids(document: &Value, list: &str) -> BTreeSet<String> {
    document[list].as_array().unwrap_or(&vec![]).iter().map(item_id).collect()
}

/// Every value `theirs` holds, `ours` holds the same at the same place (ours may hold more).
fn holds_all_of(ours: &Value, theirs: &Value, path: &str) -> Result<(), String> {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => t.iter().try_for_each(|(k, v)| holds_all_of(o.get(k).unwrap_or(&Value::Null), v, &format!("{path}.{k}"))),
        (Value::Array(o), Value::Array(t)) if o.len() == t.len() => o.iter().zip(t).try_for_each(|(a, b)| holds_all_of(a, b, &format!("{path}[]"))),
        _ if ours == theirs => Ok(()),
        _ => Err(format!("{path}: baton prints {theirs}, we print {ours}")),
    }
}

/// Our document for `command` holds every item baton prints for it, each with all its values.
fn same_document(peers: &Path, file: &str, command: &[&str], list: &str) {
    let mut args = command.to_vec();
    args.extend(["-f", file, "-o", "json"]);
    let (theirs, ours) = (baton_json(peers, &args), our_json(&args));
    assert_eq!(ours.as_object().unwrap().keys().collect::<Vec<_>>(), theirs.as_object().unwrap().keys().collect::<Vec<_>>(), "{command:?}: top-level keys");
    let ours_by_id: BTreeMap<String, &Value> = ours[list].as_array().unwrap().iter().map(|i| (item_id(i), i)).collect();
    for item in theirs[list].as_array().unwrap_or(&vec![]) {
        let id = item_id(item);
        let mine = ours_by_id.get(&id).unwrap_or_else(|| panic!("{command:?}: baton shows {id}, we do not"));
        holds_all_of(mine, item, &id).unwrap_or_else(|e| panic!("{command:?}: {e}"));
    }
}

fn synced(sim: &Simulator, file: &Path) {
    let run = run_on(sim, file, ADMIN_TOKEN, &[]);
    assert!(run.success, "{}", run.output());
}

#[test]
fn baton_reads_every_version_profile_as_we_wrote_it() {
    let Some(peers) = peers() else { return };
    for version in VERSION_PROFILES {
        let sim = Simulator::start_background(SimConfig {
            version: version.into(),
            context_path: "/confluence".into(),
            max_limit: 9,
            dataset: Dataset::generate(30),
            ..SimConfig::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.c1z");
        synced(&sim, &path);
        let file = path.to_str().unwrap();
        let reader = baton_c1z::C1zReader::open(&path).unwrap();

        // Counts.
        let counts = stats(&peers, file);
        let types = reader.resource_types().unwrap();
        assert_eq!(counts.get("resource_types"), Some(&types.len()), "{version}: {counts:?}");
        for t in &types {
            let ours = reader.resources(Some(&t.id)).unwrap().len();
            assert_eq!(counts.get(&t.id).copied().unwrap_or(0), ours, "{version}: {} resources", t.id);
        }
        assert_eq!(counts.get("entitlements"), Some(&reader.entitlements().unwrap().len()), "{version}");
        assert_eq!(counts.get("grants"), Some(&reader.grants().unwrap().len()), "{version}");

        // Ids: exactly the ones we wrote.
        let key = |id: Option<&baton_c1z::pb::ResourceId>| id.map(|i| format!("{}:{}", i.resource_type, i.resource)).unwrap();
        let resources: BTreeSet<String> = reader.resources(None).unwrap().iter().map(|r| key(r.id.as_ref())).collect();
        let entitlements: BTreeSet<String> = reader.entitlements().unwrap().into_iter().map(|e| e.id).collect();
        let grants = reader.grants().unwrap();
        assert_eq!(ids(&baton_json(&peers, &["resources", "-f", file, "-o", "json"]), "resources"), resources, "{version}");
        assert_eq!(ids(&baton_json(&peers, &["entitlements", "-f", file, "-o", "json"]), "entitlements"), entitlements, "{version}");
        assert_eq!(ids(&baton_json(&peers, &["grants", "-f", file, "-o", "json"]), "grants"), grants.iter().map(|g| g.id.clone()).collect(), "{version}");
        for entitlement in ["group:confluence-users:member", "space:DEV:view", "space:PUB:view"] {
            let direct: BTreeSet<String> = grants
                .iter()
                .filter(|g| g.entitlement.as_ref().is_some_and(|e| e.id == entitlement))
                .map(|g| key(g.principal.as_ref().and_then(|p| p.id.as_ref())))
                .collect();
            assert!(!direct.is_empty(), "{version}: {entitlement} has holders");
            let listed = ids(&baton_json(&peers, &["principals", "-f", file, "-e", entitlement, "-o", "json"]), "resources");
            assert_eq!(listed, direct, "{version}: baton principals -e {entitlement}");
        }

        // Our JSON is baton's document.
        same_document(&peers, file, &["resource-types"], "resourceTypes");
        same_document(&peers, file, &["resources"], "resources");
        same_document(&peers, file, &["entitlements"], "entitlements");
        same_document(&peers, file, &["grants"], "grants");
        for entitlement in ["space:DEV:view", "group:team/alpha:member"] {
            same_document(&peers, file, &["principals", "-e", entitlement], "resources");
        }

        // Export.
        let csv = dir.path().join("sync.csv");
        baton(&peers, &["export", "csv", "-f", file, "--out", csv.to_str().unwrap()]);
        assert!(std::fs::metadata(&csv).unwrap().len() > 0, "{version}: baton export csv wrote nothing");
    }
}

#[test]
fn baton_access_is_our_principals_direct_holders() {
    let Some(peers) = peers() else { return };
    let sim =
        Simulator::start_background(SimConfig { version: "10.2.0".into(), max_limit: 9, dataset: Dataset::generate(30), ..SimConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.c1z");
    synced(&sim, &path);
    let file = path.to_str().unwrap();
    let entitlements = ids(&our_json(&["entitlements", "-f", file, "-o", "json"]), "entitlements");
    // Who holds what by our principals command: directly, and through groups.
    let (mut direct, mut all): (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, BTreeSet<String>>) = Default::default();
    for entitlement in &entitlements {
        for item in our_json(&["principals", "-f", file, "-e", entitlement, "-o", "json"])["resources"].as_array().unwrap() {
            let who = item_id(item);
            all.entry(who.clone()).or_default().insert(entitlement.clone());
            if item["via"] == "direct" {
                direct.entry(who).or_default().insert(entitlement.clone());
            }
        }
    }
    for user in ["admin", "zoe.angstrom", "shalom-cohen", "eigyo_taro"] {
        let access = baton_json(&peers, &["access", "-f", file, "-r", user, "-t", "user", "-o", "json"]);
        let theirs: BTreeSet<String> = access["access"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["entitlements"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()))
            .collect();
        let who = format!("user:{user}");
        assert!(!theirs.is_empty(), "{user} has access");
        assert_eq!(Some(&theirs), direct.get(&who), "{user}: baton access is what our principals list as direct");
        assert!(all[&who].is_superset(&theirs) && all[&who].len() > theirs.len(), "{user}: ours adds access through groups");
    }
}

/// A Go connector release and the profile of ours that reproduces its ids.
struct GoRelease {
    binary: &'static str,
    /// What it needs to write a file `baton` v0.7.27 reads.
    args: &'static [&'static str],
    compat: &'static str,
}

const JANUARY_2025: GoRelease = GoRelease { binary: "baton-confluence-datacenter", args: &[], compat: "go-2025-01" };
const NEWEST: GoRelease = GoRelease { binary: "baton-confluence-datacenter-newest", args: &["--storage-engine", "sqlite"], compat: "go-newest" };

/// The Go connector's file and ours under its profile, both of the plain dataset on `version`
/// (the conditions the Go connectors complete under: served at the root, plain names, no
/// clamping); none when this machine has no peers.
fn both_files(release: &GoRelease, version: &str, dir: &Path) -> Option<(PathBuf, String, String)> {
    let peers = peers()?;
    let sim =
        Simulator::start_background(SimConfig { version: version.into(), max_limit: 1000, dataset: Dataset::bench(60, 8, 300, 6), ..SimConfig::default() })
            .unwrap();
    let (go_file, our_file) = (dir.join(format!("go-{version}.c1z")), dir.join(format!("ours-{version}.c1z")));
    let go = Command::new(peers.join(release.binary))
        .args(["--hostname", &sim.base_url(), "--access-token", ADMIN_TOKEN, "-f", go_file.to_str().unwrap()])
        .args(release.args)
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(go.status.success(), "{} on {version}: {}", release.binary, String::from_utf8_lossy(&go.stderr));
    let run = run_on(&sim, &our_file, ADMIN_TOKEN, &["--compat", release.compat]);
    assert!(run.success, "{}", run.output());
    Some((peers, go_file.to_str().unwrap().into(), our_file.to_str().unwrap().into()))
}

/// Every resource, entitlement and grant id the release writes is in our file (as `baton`
/// reads both).
fn every_id_is_ours(release: &GoRelease, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some((peers, go_file, our_file)) = both_files(release, version, dir.path()) else { return };
    for (command, list) in [("resources", "resources"), ("entitlements", "entitlements"), ("grants", "grants")] {
        let theirs = ids(&baton_json(&peers, &[command, "-f", &go_file, "-o", "json"]), list);
        let ours = ids(&baton_json(&peers, &[command, "-f", &our_file, "-o", "json"]), list);
        assert!(theirs.len() >= 8, "{} {command}: it wrote {theirs:?}", release.binary);
        let missing: Vec<&String> = theirs.difference(&ours).collect();
        assert!(missing.is_empty(), "{} on {version}, {command}: it writes ids ours ({}) lacks: {missing:?}", release.binary, release.compat);
    }
}

/// The versions both Go releases complete a sync on: they list users with `/rest/api/user/list`,
/// which 7.19 lacks. (The newest reads space permissions over the REST API of 9.1+ only, so on
/// 8.5 its file has users, groups and memberships alone.)
const GO_VERSIONS: [&str; 3] = ["8.5.0", "9.2.0", "10.2.0"];

#[test]
fn every_id_the_january_2025_go_connector_writes_is_ours_under_its_profile() {
    for version in GO_VERSIONS {
        every_id_is_ours(&JANUARY_2025, version);
    }
}

#[test]
fn every_id_the_newest_go_connector_writes_is_ours_under_its_profile() {
    for version in GO_VERSIONS {
        every_id_is_ours(&NEWEST, version);
    }
}

/// Per user and group, what each Go release's file says (display name, the trait's login,
/// emails, status and account type, every profile key of the trait and of the resource) our
/// file under its profile says the same. Read with our own reader, which shows the resource's
/// profile (newer than baton v0.7.27's schema) as well.
#[test]
fn every_user_and_group_field_the_go_connectors_write_is_ours() {
    for release in [JANUARY_2025, NEWEST] {
        let dir = tempfile::tempdir().unwrap();
        let Some((_, go_file, our_file)) = both_files(&release, "9.2.0", dir.path()) else { return };
        for (resource_type, trait_type) in [("user", "UserTrait"), ("group", "GroupTrait")] {
            let fields = |file: &str| -> BTreeMap<String, BTreeMap<String, Value>> {
                let listed = our_json(&["resources", "-f", file, "-t", resource_type, "-o", "json"]);
                listed["resources"].as_array().unwrap().iter().map(|r| (item_id(r), said_about(&r["resource"], trait_type))).collect()
            };
            let (theirs, ours) = (fields(&go_file), fields(&our_file));
            assert!(!theirs.is_empty(), "{}: {resource_type}s", release.binary);
            let mut compared = 0;
            for (id, go_fields) in &theirs {
                let our_fields = ours.get(id).unwrap_or_else(|| panic!("{}: {id} is not in ours", release.binary));
                for (field, value) in go_fields {
                    assert_eq!(our_fields.get(field), Some(value), "{} ({}): {id}: {field}", release.binary, release.compat);
                    compared += 1;
                }
            }
            assert!(compared >= 2 * theirs.len(), "{} {resource_type}: fields compared for every one: {compared}", release.binary);
        }
    }
}

/// What a resource's JSON says about it, flattened: `displayName`, `trait.<field>` and
/// `trait.profile.<key>` of its trait, `profile.<key>` of the resource itself.
fn said_about(resource: &Value, trait_type: &str) -> BTreeMap<String, Value> {
    let mut said = BTreeMap::new();
    said.insert("displayName".into(), resource["displayName"].clone());
    let annotations = resource["annotations"].as_array().cloned().unwrap_or_default();
    let the_trait = annotations.iter().find(|a| a["@type"].as_str().is_some_and(|t| t.ends_with(trait_type))).cloned().unwrap_or_default();
    for (field, value) in the_trait.as_object().into_iter().flatten() {
        match field.as_str() {
            "@type" => {}
            "profile" => said.extend(value.as_object().into_iter().flatten().map(|(k, v)| (format!("trait.profile.{k}"), v.clone()))),
            _ => {
                said.insert(format!("trait.{field}"), value.clone());
            }
        }
    }
    said.extend(resource["profile"].as_object().into_iter().flatten().map(|(k, v)| (format!("profile.{k}"), v.clone())));
    said
}

#[test]
fn baton_diff_between_two_syncs_shows_exactly_the_change() {
    let Some(peers) = peers() else { return };
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), max_limit: 9, dataset: Dataset::generate(30), ..SimConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.c1z");
    synced(&sim, &path);
    // One membership added, one removed.
    {
        let mut directory = sim.state().directory_mut();
        directory.groups.iter_mut().find(|g| g.name == "empty-group").unwrap().members.push("zoe.angstrom".into());
        directory.groups.iter_mut().find(|g| g.name == "team/alpha").unwrap().members.retain(|m| m != "admin");
    }
    synced(&sim, &path);
    let file = path.to_str().unwrap();
    let diff = baton_json(&peers, &["diff", "-f", file, "-o", "json"]);
    let listed = |kind: &str, change: &str| -> BTreeSet<String> {
        diff[kind][change].as_array().map(|items| items.iter().map(|g| g["id"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    assert_eq!(listed("grants", "created"), BTreeSet::from(["group:empty-group:member:user:zoe.angstrom".to_string()]), "{diff}");
    assert_eq!(listed("grants", "deleted"), BTreeSet::from(["group:team/alpha:member:user:admin".to_string()]), "{diff}");
    for kind in ["resources", "entitlements"] {
        assert!(diff[kind].as_object().is_some_and(|o| o.values().all(|v| v.as_array().is_none_or(Vec::is_empty))), "{kind}: nothing else changed: {diff}");
    }
    assert_eq!(baton_c1z::C1zReader::open(&path).unwrap().sync_runs().unwrap().len(), 2, "the new sync and the one before, no more");

    // Asked not to, a sync leaves the new sync alone in the file.
    let run = run_on(&sim, &path, ADMIN_TOKEN, &["--keep-previous-sync=false"]);
    assert!(run.success, "{}", run.output());
    assert_eq!(baton_c1z::C1zReader::open(&path).unwrap().sync_runs().unwrap().len(), 1);
}

/// A user resource of the minimal shape baton lists.
fn c1z_user(id: &str) -> baton_c1z::pb::Resource {
    use baton_c1z::pb;
    pb::Resource {
        id: Some(pb::ResourceId { resource_type: "user".into(), resource: id.into(), ..Default::default() }),
        display_name: id.into(),
        annotations: vec![baton_c1z::any(&pb::UserTrait::default())],
        ..Default::default()
    }
}

/// A file whose rows were compressed while its indexes were built (page 1, a skippable size
/// note, the rows, the indexes: four zstd frames) is read by baton as written, the sync kept
/// beside it included (`baton diff`).
#[test]
fn baton_reads_a_file_compressed_while_its_indexes_were_built() {
    use baton_c1z::pb;
    let Some(peers) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.c1z");
    for users in [["ada", "bob"], ["ada", "cy"]] {
        let mut writer = baton_c1z::C1zWriter::create(&out).unwrap();
        writer.keep_previous_sync(true);
        writer.compress_during_index_build_from(0);
        let user_type =
            pb::ResourceType { id: "user".into(), display_name: "User".into(), traits: vec![pb::resource_type::Trait::User as i32], ..Default::default() };
        writer.put_resource_type(&user_type).unwrap();
        for user in users {
            writer.put_resource(&c1z_user(user)).unwrap();
        }
        writer.finish().unwrap();
    }
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(zstd::zstd_safe::get_frame_content_size(&bytes[5..]).unwrap(), Some(16384), "page 1 in a frame of its own: the early path was taken");

    let file = out.to_str().unwrap();
    assert_eq!(stats(&peers, file).get("user"), Some(&2), "{}", baton(&peers, &["stats", "-f", file]));
    let listed = baton_json(&peers, &["resources", "-f", file, "-o", "json"]);
    assert_eq!(ids(&listed, "resources"), BTreeSet::from(["user:ada".to_string(), "user:cy".to_string()]));
    let diff = baton_json(&peers, &["diff", "-f", file, "-o", "json"]);
    let changed = |change: &str| -> Vec<String> {
        diff["resources"][change].as_array().map(|items| items.iter().map(|r| r["id"]["resource"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    assert_eq!((changed("created"), changed("deleted")), (vec!["cy".to_string()], vec!["bob".to_string()]), "{diff}");
}
