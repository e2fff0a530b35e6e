//! Tests of the Global Permissions REST API through the router: version gating (and its
//! switch), the item and subject shapes under each switch, paging, the per-subject GETs, and
//! the set-semantics PUT with its limits, validation, extras and last-sysadmin guard.

use serde_json::json;

use super::directory::collect_all;
use super::writes::{send, status_and_code, write};
use super::*;
use crate::{ADMIN_USER_KEY, GlobalListStyle, GroupSubjectStyle, SimGlobalPermission, Subject, UserSubjectStyle, user_key_for};

const PERMISSIONS: &str = "/rest/api/permissions";

fn on_9_2(cfg: SimConfig) -> Arc<SimState> {
    state_with(SimConfig { version: "9.2.0".into(), ..cfg })
}

fn admin() -> String {
    bearer(ADMIN_TOKEN)
}

/// `{"operation":{...},"subject":subject}`.
fn item(target: &str, operation: &str, subject: Value) -> Value {
    json!({"operation": {"targetType": target, "operationKey": operation}, "subject": subject})
}

/// The items of a bare-array answer (200 asserted).
fn items(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().expect("bare array").clone()
}

async fn list(state: &Arc<SimState>, path: &str) -> Vec<Value> {
    items(&admin_get(state, path).await)
}

fn operations(pairs: &[(&str, &str)]) -> Value {
    pairs.iter().map(|(target, operation)| json!({"targetType": target, "operationKey": operation})).collect()
}

/// A PUT body item for a user.
fn for_user(user_key: &str, pairs: &[(&str, &str)]) -> Value {
    json!({"userKey": user_key, "operations": operations(pairs)})
}

/// A PUT body item for a group.
fn for_group(name: &str, pairs: &[(&str, &str)]) -> Value {
    json!({"groupName": name, "operations": operations(pairs)})
}

async fn put(state: &Arc<SimState>, body: &Value) -> Reply {
    write(state, "PUT", PERMISSIONS, &admin(), &body.to_string()).await
}

fn user(name: &str) -> Subject {
    Subject::User(name.to_string())
}

fn group(name: &str) -> Subject {
    Subject::Group(name.to_string())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(target, operation)| (target.to_string(), operation.to_string())).collect()
}

fn zoe_key() -> String {
    user_key_for("zoe.angstrom")
}

#[tokio::test]
async fn global_permissions_exist_from_the_configured_version() {
    let paths = [PERMISSIONS, "/rest/api/permissions/anonymous", "/rest/api/permissions/group/confluence-users", "/rest/api/permissions/unlicensed"];
    let cases = [
        ("7.19.0", (9, 2), false),
        ("8.5.0", (9, 2), false),
        ("9.2.0", (9, 2), true),
        ("10.2.0", (9, 2), true),
        ("9.2.0", (9, 3), false),
        ("9.3.0", (9, 3), true),
    ];
    for (version, since, exists) in cases {
        let state = state_with(SimConfig { version: version.into(), global_permissions_since: since, ..config(12) });
        for path in paths {
            let reply = admin_get(&state, path).await;
            assert_eq!(reply.status, if exists { 200 } else { 404 }, "{version} since {since:?}: {path}");
        }
        let reply = put(&state, &json!([for_user(&zoe_key(), &[("application", "use")])])).await;
        assert_eq!(reply.status, if exists { 204 } else { 404 }, "{version} since {since:?}: PUT");
        let held = if exists { pairs(&[("application", "use")]) } else { pairs(&[("space", "create")]) };
        assert_eq!(state.global_permissions_of(&user("zoe.angstrom")), held, "{version}");
    }
}

#[tokio::test]
async fn the_list_holds_every_generated_grant_in_the_default_shapes() {
    let state = on_9_2(config(12));
    let listed = list(&state, PERMISSIONS).await;
    let expected = state.config.dataset.expected();
    assert_eq!(listed.len(), expected.global_grants_to_users + expected.global_grants_to_groups + expected.global_grants_to_anonymous);
    assert_eq!(listed.len(), 11);
    let admin_subject = json!({"type": "user", "userKey": ADMIN_USER_KEY, "displayName": "admin"});
    let admin_items = [("system", "administer"), ("application", "administer"), ("application", "use")].map(|(t, o)| item(t, o, admin_subject.clone()));
    assert_eq!(listed[..3], admin_items);
    let administrators = json!({"type": "group", "name": "confluence-administrators", "displayName": "confluence-administrators"});
    let users = json!({"type": "group", "name": "confluence-users", "displayName": "confluence-users"});
    let zoe = json!({"type": "user", "userKey": zoe_key(), "displayName": "Zoë Ångström"});
    let shalom = json!({"type": "user", "userKey": user_key_for("shalom-cohen"), "displayName": "שלום כהן"});
    assert_eq!(
        listed[3..],
        [
            item("application", "administer", administrators.clone()),
            item("application", "use", administrators),
            item("application", "use", users.clone()),
            item("space", "create", users.clone()),
            item("personal_space", "create", users),
            item("space", "create", zoe),
            item("application", "use", shalom),
            item("application", "use", json!({"type": "anonymous", "displayName": "Anonymous"})),
        ]
    );
    assert!(state.user("shalom-cohen").unwrap().is_deactivated(), "a disabled account still holding a permission");
}

/// The generated rows plus "use" for a user without a display name and one with an empty one.
fn config_with_nameless_users() -> SimConfig {
    let mut cfg = config(12);
    for name in ["no_display.name", "empty.display"] {
        cfg.dataset.global_permissions.push(SimGlobalPermission::new("application", "use", user(name)));
    }
    cfg
}

#[tokio::test]
async fn user_subjects_follow_the_style_switch() {
    let (zoe, nameless, empty) = (zoe_key(), user_key_for("no_display.name"), user_key_for("empty.display"));
    let cases = [
        (
            UserSubjectStyle::UserKey,
            json!({"type": "user", "userKey": zoe, "displayName": "Zoë Ångström"}),
            json!({"type": "user", "userKey": nameless, "displayName": "no_display.name"}),
            json!({"type": "user", "userKey": empty, "displayName": "empty.display"}),
        ),
        (
            UserSubjectStyle::Username,
            json!({"type": "user", "username": "zoe.angstrom", "displayName": "Zoë Ångström"}),
            json!({"type": "user", "username": "no_display.name", "displayName": "no_display.name"}),
            json!({"type": "user", "username": "empty.display", "displayName": "empty.display"}),
        ),
        (
            UserSubjectStyle::Both,
            json!({"type": "user", "userKey": zoe, "username": "zoe.angstrom", "displayName": "Zoë Ångström"}),
            json!({"type": "user", "userKey": nameless, "username": "no_display.name", "displayName": "no_display.name"}),
            json!({"type": "user", "userKey": empty, "username": "empty.display", "displayName": "empty.display"}),
        ),
        (
            UserSubjectStyle::DisplayNameOnly,
            json!({"type": "user", "displayName": "Zoë Ångström"}),
            json!({"type": "user", "displayName": "no_display.name"}),
            json!({"type": "user", "displayName": "empty.display"}),
        ),
    ];
    for (style, zoe_subject, nameless_subject, empty_subject) in cases {
        let state = on_9_2(SimConfig { global_user_subject: style, ..config_with_nameless_users() });
        let listed = list(&state, PERMISSIONS).await;
        let tail = [item("space", "create", zoe_subject), item("application", "use", nameless_subject), item("application", "use", empty_subject)];
        assert!(listed.contains(&tail[0]), "{style:?}: {listed:?}");
        assert_eq!(listed[listed.len() - 2..], tail[1..], "{style:?}");
        assert_eq!(listed.iter().filter(|i| i["subject"]["type"] == "group").count(), 5, "{style:?}: groups keep their shape");
    }
}

#[tokio::test]
async fn group_subjects_follow_the_style_switch() {
    let cases = [
        (GroupSubjectStyle::Name, json!({"type": "group", "name": "confluence-users", "displayName": "confluence-users"})),
        (GroupSubjectStyle::GroupName, json!({"type": "group", "groupName": "confluence-users"})),
        (GroupSubjectStyle::DisplayNameOnly, json!({"type": "group", "displayName": "confluence-users"})),
    ];
    for (style, subject) in cases {
        let state = on_9_2(SimConfig { global_group_subject: style, ..config(12) });
        let listed = list(&state, "/rest/api/permissions/group/confluence-users").await;
        assert_eq!(listed, [item("application", "use", subject.clone()), item("space", "create", subject.clone()), item("personal_space", "create", subject)]);
        let anonymous = list(&state, "/rest/api/permissions/anonymous").await;
        assert_eq!(anonymous, [item("application", "use", json!({"type": "anonymous", "displayName": "Anonymous"}))], "{style:?}");
    }
}

#[tokio::test]
async fn paged_style_pages_and_clamps() {
    let state = on_9_2(SimConfig { global_list_style: GlobalListStyle::Paged, max_limit: 4, ..config(12) });
    let first = admin_get(&state, "/rest/api/permissions?limit=50").await.json();
    assert_eq!((first["start"].as_u64(), first["limit"].as_u64(), first["size"].as_u64()), (Some(0), Some(4), Some(4)));
    assert_eq!(first["_links"]["next"], "/rest/api/permissions?limit=4&start=4");
    assert_eq!(first["_links"]["base"], ORIGIN);
    let last = admin_get(&state, "/rest/api/permissions?start=8&limit=4").await.json();
    assert_eq!(last["size"], 3);
    assert!(last["_links"].get("next").is_none());
    let (all, pages) = collect_all(&state, "/rest/api/permissions").await;
    assert_eq!(pages, 3);
    assert_eq!(all, list(&on_9_2(config(12)), PERMISSIONS).await, "the same items as the bare array");
    let group = admin_get(&state, "/rest/api/permissions/group/confluence-users?limit=2").await.json();
    assert_eq!(group["size"], 2);
    assert_eq!(group["_links"]["next"], "/rest/api/permissions/group/confluence-users?limit=2&start=2");
    let (group_items, _) = collect_all(&state, "/rest/api/permissions/group/confluence-users?limit=2").await;
    assert_eq!(group_items.len(), 3);
    let anonymous = admin_get(&state, "/rest/api/permissions/anonymous").await.json();
    assert_eq!((anonymous["size"].as_u64(), anonymous["limit"].as_u64()), (Some(1), Some(4)));
    let unlicensed = admin_get(&state, "/rest/api/permissions/unlicensed").await.json();
    assert_eq!((unlicensed["results"].clone(), unlicensed["size"].as_u64()), (json!([]), Some(0)));
    assert_eq!(admin_get(&state, "/rest/api/permissions?limit=abc").await.status, 400);
}

#[tokio::test]
async fn per_group_anonymous_and_unlicensed_lists() {
    let state = on_9_2(config(12));
    let administrators = list(&state, "/rest/api/permissions/group/CONFLUENCE-Administrators").await;
    assert_eq!(administrators.len(), 2);
    assert!(administrators.iter().all(|i| i["subject"]["name"] == "confluence-administrators"), "stored name: {administrators:?}");
    assert_eq!(list(&state, "/rest/api/permissions/group/r%26d%20+%20ops").await, Vec::<Value>::new(), "an existing group without grants");
    let missing = admin_get(&state, "/rest/api/permissions/group/no-such-group").await;
    assert_eq!(status_and_code(&missing), (404, Some(404)));
    assert!(missing.json()["message"].as_str().unwrap().contains("no-such-group"));
    assert_eq!(admin_get(&state, "/rest/api/permissions/group/team/alpha").await.status, 404);
    assert_eq!(admin_get(&state, "/rest/api/permissions/user/admin").await.status, 404);
    assert_eq!(list(&state, "/rest/api/permissions/anonymous").await.len(), 1);
    assert_eq!(list(&state, "/rest/api/permissions/unlicensed").await, Vec::<Value>::new());
    let zoe = bearer(&token_for("zoe.angstrom"));
    for path in [PERMISSIONS, "/rest/api/permissions/anonymous", "/rest/api/permissions/group/confluence-users", "/rest/api/permissions/unlicensed"] {
        assert_eq!(status_and_code(&get(&state, path, Some(&zoe), Some(JSON)).await), (403, Some(403)), "{path}");
        assert_eq!(get(&state, path, None, Some(JSON)).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn put_gives_each_named_subject_exactly_its_list() {
    let state = on_9_2(config(12));
    let before = state.global_permissions();
    assert_eq!(state.global_permissions_of(&user("zoe.angstrom")), pairs(&[("space", "create")]));
    let grant = json!([for_user(&zoe_key(), &[("space", "create"), ("application", "use")])]);
    for _ in 0..2 {
        let reply = put(&state, &grant).await;
        assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    }
    let after = state.global_permissions();
    assert_eq!(after[..before.len()], before[..], "nothing else changed");
    assert_eq!(after[before.len()..], [SimGlobalPermission::new("application", "use", user("zoe.angstrom"))]);
    let zoe_subject = json!({"type": "user", "userKey": zoe_key(), "displayName": "Zoë Ångström"});
    assert!(list(&state, PERMISSIONS).await.contains(&item("application", "use", zoe_subject)));

    let revoke_all = json!([for_group("Confluence-Users", &[])]);
    assert_eq!(put(&state, &revoke_all).await.status, 204);
    assert!(state.global_permissions_of(&group("confluence-users")).is_empty());
    let untouched: Vec<SimGlobalPermission> = after.iter().filter(|row| row.subject != group("confluence-users")).cloned().collect();
    assert_eq!(state.global_permissions(), untouched);
    assert_eq!(list(&state, "/rest/api/permissions/group/confluence-users").await, Vec::<Value>::new());

    let narrow = json!([for_user(ADMIN_USER_KEY, &[("application", "use"), ("system", "administer")]), for_group("confluence-users", &[("space", "create")])]);
    assert_eq!(put(&state, &narrow).await.status, 204);
    assert_eq!(state.global_permissions_of(&user("admin")), pairs(&[("application", "use"), ("system", "administer")]));
    assert_eq!(state.global_permissions_of(&group("CONFLUENCE-USERS")), pairs(&[("space", "create")]));
    assert_eq!(state.global_permissions_of(&Subject::Anonymous), pairs(&[("application", "use")]));
    assert_eq!(put(&state, &json!([])).await.status, 204, "an empty request changes nothing");
}

#[tokio::test]
async fn put_takes_at_most_40_subjects() {
    let state = on_9_2(config(45));
    let before = state.global_permissions();
    let keys: Vec<String> = state.directory().users.iter().map(|u| u.user_key.clone()).collect();
    let body = |n: usize| Value::Array(keys[..n].iter().map(|key| for_user(key, &[("space", "create")])).collect());
    let too_many = put(&state, &body(41)).await;
    assert_eq!(status_and_code(&too_many), (400, Some(400)));
    assert!(too_many.json()["message"].as_str().unwrap().contains("40"));
    assert_eq!(state.global_permissions(), before);
    assert_eq!(put(&state, &body(40)).await.status, 204);
    let fortieth = state.directory().users[39].username.clone();
    for name in ["admin", fortieth.as_str()] {
        assert_eq!(state.global_permissions_of(&user(name)), pairs(&[("space", "create")]), "{name}");
    }
    let forty_first = state.directory().users[40].username.clone();
    assert!(state.global_permissions_of(&user(&forty_first)).is_empty());
}

#[tokio::test]
async fn invalid_puts_change_nothing() {
    let state = on_9_2(config(12));
    let before = state.global_permissions();
    let valid = for_user(&zoe_key(), &[("application", "use")]);
    let bad_items = [
        (json!({"userKey": zoe_key(), "groupName": "confluence-users", "operations": []}), "both"),
        (json!({"operations": []}), "userKey"),
        (json!({"userKey": zoe_key()}), "operations"),
        (json!({"userKey": zoe_key(), "operations": {"targetType": "space", "operationKey": "create"}}), "operations"),
        (json!({"userKey": zoe_key(), "operations": [{"targetType": "space"}]}), "operationKey"),
        (json!({"userKey": 42, "operations": []}), "userKey"),
        (for_group("confluence-users", &[("space", "read")]), "space/read"),
        (for_group("confluence-users", &[("Application", "use")]), "Application/use"),
        (json!("zoe.angstrom"), "userKey"),
    ];
    for (bad, named) in &bad_items {
        let reply = put(&state, &json!([valid, bad])).await;
        assert_eq!(status_and_code(&reply), (400, Some(400)), "{bad}");
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(named), "{bad}: {message}");
    }
    for raw in ["{not json", r#"{"userKey":"x","operations":[]}"#, ""] {
        let reply = write(&state, "PUT", PERMISSIONS, &admin(), raw).await;
        assert_eq!(status_and_code(&reply), (400, Some(400)), "{raw:?}");
    }
    let ghost_key = "ffffffffffffffffffffffffffffffff";
    let unknown = [(for_user(ghost_key, &[]), ghost_key), (for_group("no-such-group", &[]), "no-such-group")];
    for (unknown_item, named) in &unknown {
        let reply = put(&state, &json!([valid, unknown_item])).await;
        assert_eq!(status_and_code(&reply), (404, Some(404)), "{unknown_item}");
        assert!(reply.json()["message"].as_str().unwrap().contains(named));
    }
    let zoe = bearer(&token_for("zoe.angstrom"));
    let body = json!([valid]).to_string();
    assert_eq!(status_and_code(&write(&state, "PUT", PERMISSIONS, &zoe, &body).await), (403, Some(403)));
    assert_eq!(send(&state, "PUT", PERMISSIONS, None, &[("content-type", JSON)], &body).await.status, 401);
    assert_eq!(write(&state, "DELETE", PERMISSIONS, &admin(), &body).await.status, 405);
    assert_eq!(write(&state, "PUT", "/rest/api/permissions/anonymous", &admin(), &body).await.status, 405);
    assert_eq!(state.global_permissions(), before);
}

#[tokio::test]
async fn extra_operations_are_accepted_and_served_only_when_configured() {
    let frobnicate = [("application", "frobnicate")];
    let body = json!([for_user(&zoe_key(), &frobnicate)]);
    let plain = on_9_2(config(12));
    let refused = put(&plain, &body).await;
    assert_eq!(status_and_code(&refused), (400, Some(400)));
    assert!(refused.json()["message"].as_str().unwrap().contains("application/frobnicate"));
    assert_eq!(plain.global_permissions_of(&user("zoe.angstrom")), pairs(&[("space", "create")]));

    let extras = vec![("application".to_string(), "frobnicate".to_string())];
    let state = on_9_2(SimConfig { extra_global_operations: extras.clone(), ..config(12) });
    assert_eq!(put(&state, &body).await.status, 204);
    assert_eq!(state.global_permissions_of(&user("zoe.angstrom")), pairs(&frobnicate));
    let zoe_subject = json!({"type": "user", "userKey": zoe_key(), "displayName": "Zoë Ångström"});
    assert!(list(&state, PERMISSIONS).await.contains(&item("application", "frobnicate", zoe_subject)));

    let mut stored = config(12);
    stored.dataset.global_permissions.push(SimGlobalPermission::new("application", "frobnicate", Subject::Anonymous));
    assert_eq!(stored.dataset.expected().global_grants_to_anonymous, 2, "Expected counts every stored pair");
    assert_eq!(list(&on_9_2(stored.clone()), "/rest/api/permissions/anonymous").await.len(), 1, "not served unless supported");
    let served = on_9_2(SimConfig { extra_global_operations: extras, ..stored });
    assert_eq!(list(&served, "/rest/api/permissions/anonymous").await.len(), 2);
}

#[tokio::test]
async fn the_last_system_administrator_is_kept_only_when_asked() {
    let sysadmin = [("system", "administer")];
    let open = on_9_2(config(12));
    assert_eq!(put(&open, &json!([for_user(ADMIN_USER_KEY, &[])])).await.status, 204);
    assert!(open.global_permissions().iter().all(|row| !row.is("system", "administer")), "by default nothing guards it");

    let state = on_9_2(SimConfig { refuse_last_sysadmin_removal: true, ..config(12) });
    let before = state.global_permissions();
    let refused = put(&state, &json!([for_user(ADMIN_USER_KEY, &[("application", "use")])])).await;
    assert_eq!(status_and_code(&refused), (400, Some(400)));
    assert!(refused.json()["message"].as_str().unwrap().contains("System Administrator"));
    assert_eq!(state.global_permissions(), before);
    let hand_over = json!([for_group("confluence-administrators", &sysadmin), for_user(ADMIN_USER_KEY, &[])]);
    assert_eq!(put(&state, &hand_over).await.status, 204);
    assert!(state.global_permissions_of(&user("admin")).is_empty());
    assert_eq!(state.global_permissions_of(&group("confluence-administrators")), pairs(&sysadmin));
    assert_eq!(put(&state, &json!([for_group("confluence-administrators", &[])])).await.status, 400);
    assert_eq!(put(&state, &json!([for_group("confluence-administrators", &sysadmin)])).await.status, 204, "keeping it is fine");
}

#[tokio::test]
async fn put_status_follows_the_switch() {
    let state = on_9_2(SimConfig { global_put_status: 200, ..config(12) });
    let reply = put(&state, &json!([for_user(&zoe_key(), &[])])).await;
    assert_eq!((reply.status, reply.json()), (200, json!({})));
    assert!(reply.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert!(SimState::new(SimConfig { global_put_status: 404, ..config(5) }, ORIGIN.to_string()).is_err());
}
