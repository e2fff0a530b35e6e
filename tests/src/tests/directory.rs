//! Tests of the group, space, permission and JSON-RPC endpoints and of the generated
//! dataset's ground truth, through the router.

use super::*;
use crate::{Expected, Subject, VERSION_PROFILES};

fn versioned(version: &str, users: usize) -> Arc<SimState> {
    state_with(SimConfig { version: version.into(), ..config(users) })
}

async fn post(state: &Arc<SimState>, uri: &str, authorization: &str, body: &str) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", authorization)
        .header("content-type", JSON)
        .header("accept", JSON)
        .body(Body::from(body.to_string()))
        .unwrap();
    exchange(state, request).await
}

/// Follows `next` links from `first_uri` as admin; returns every item of every page.
pub(super) async fn collect_all(state: &Arc<SimState>, first_uri: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages) = (Vec::new(), 0);
    let mut uri = first_uri.to_string();
    for _ in 0..500 {
        let reply = admin_get(state, &uri).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        let page = reply.json();
        let results = page["results"].as_array().unwrap().clone();
        pages += 1;
        items.extend(results.iter().cloned());
        match page["_links"]["next"].as_str() {
            Some(next) if !results.is_empty() => uri = next_uri(next, ""),
            _ => return (items, pages),
        }
    }
    panic!("pagination did not terminate");
}

fn names(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|i| i[field].as_str().unwrap().to_string()).collect()
}

#[test]
fn expected_counts_match_a_hand_count() {
    let dataset = Dataset::generate(12);
    assert_eq!(
        dataset.expected(),
        Expected {
            users: 12,
            groups: 10,
            spaces: 9,
            memberships: 40,
            space_grants_to_users: 64,
            space_grants_to_groups: 53,
            space_grants_to_anonymous: 2,
            global_grants_to_users: 5,
            global_grants_to_groups: 5,
            global_grants_to_anonymous: 1,
        }
    );
}

#[test]
fn generated_dataset_has_every_edge_case_at_any_size() {
    for n in [12, 13, 60, 500] {
        let d = Dataset::generate(n);
        for name in [
            "confluence-users",
            "confluence-administrators",
            "группа-разработки",
            "營業部 sales",
            "r&d + ops",
            "100% #1",
            "empty-group",
            "big-group",
            "zoe.angstrom",
        ] {
            assert!(d.group(name).is_some(), "{n}: {name}");
        }
        assert!(d.group("team/alpha").unwrap().members.len() >= 2);
        assert!(d.group("empty-group").unwrap().members.is_empty());
        assert_eq!(d.group("big-group").unwrap().members.len(), n);
        assert!(d.groups.iter().filter(|g| g.members.contains(&"shalom-cohen".to_string())).count() >= 2);
        assert!(d.user("zoe.angstrom").is_some());
        assert_eq!(d.space("~zoe.angstrom").unwrap().space_type, "personal");
        assert!(d.spaces.iter().any(|s| s.status == "archived"));
        assert!(d.spaces.iter().any(|s| s.permissions.is_empty()));
        assert!(d.spaces.iter().any(|s| { !s.permissions.is_empty() && s.permissions.iter().all(|p| p.subject == Subject::Anonymous) }));
        let keys: Vec<&str> = d.spaces.iter().flat_map(|s| s.permissions.iter().map(|p| p.key.as_str())).collect();
        assert!(crate::SPACE_PERMISSION_KEYS.iter().all(|k| keys.contains(k)));
        assert!(keys.contains(&"EXPORTPAGE") && keys.contains(&"read~custom-type"));
        assert_eq!(d.users.iter().filter(|u| u.email.is_none()).count(), 1);
        assert_eq!(d.groups.len(), 10 + n / 50);
        assert_eq!(d.spaces.len(), 9 + n / 50);
    }
    assert_eq!(Dataset::generate(300), Dataset::generate(300));
}

#[tokio::test]
async fn group_list_pages_through_every_group() {
    let cfg = SimConfig { max_limit: 3, ..config(120) };
    let expected: Vec<String> = cfg.dataset.groups.iter().map(|g| g.name.clone()).collect();
    let state = state_with(cfg);
    let (items, pages) = collect_all(&state, "/rest/api/group?limit=50").await;
    assert_eq!(names(&items, "name"), expected);
    assert_eq!(pages, expected.len().div_ceil(3));
    assert!(items.iter().all(|g| g["type"] == "group"));
    let slash = items.iter().find(|g| g["name"] == "team/alpha").unwrap();
    assert_eq!(slash["_links"]["self"], format!("{ORIGIN}/rest/api/group/team%2Falpha"));
}

#[tokio::test]
async fn big_group_members_span_clamped_pages_once_each() {
    let cfg = SimConfig { max_limit: 7, ..config(60) };
    let dataset = cfg.dataset.clone();
    let state = state_with(cfg);
    let (items, pages) = collect_all(&state, "/rest/api/group/big-group/member?limit=1000&expand=status").await;
    assert_each_user_once(&names(&items, "username"), &dataset);
    assert_eq!(pages, 60usize.div_ceil(7));
    let shalom = items.iter().find(|u| u["username"] == "shalom-cohen").unwrap();
    assert_eq!(shalom["status"], "deactivated");
    let empty = admin_get(&state, "/rest/api/group/empty-group/member").await.json();
    assert_eq!(empty["size"], 0);
    let unicode = admin_get(&state, "/rest/api/group/r%26d%20+%20ops/member").await.json();
    assert_eq!(unicode["size"], 3);
    assert_eq!(admin_get(&state, "/rest/api/group/nope/member").await.status, 404);
}

#[tokio::test]
async fn slash_group_names_fail_in_paths_and_work_in_queries_on_10_2() {
    let old = versioned("9.2.0", 12);
    for uri in ["/rest/api/group/team/alpha/member", "/rest/api/group/team%2Falpha/member", "/rest/api/group/team%2falpha", "/rest/api/group/team/alpha"] {
        assert_eq!(admin_get(&old, uri).await.status, 400, "{uri}");
    }
    let wrong = admin_get(&old, "/rest/api/group/team%252Falpha/member").await;
    assert_eq!((wrong.status, wrong.json()["size"].as_u64()), (200, Some(0)));
    assert_eq!(admin_get(&old, "/rest/api/group/team%252Falpha").await.status, 404);
    assert_eq!(admin_get(&old, "/rest/api/group/member?groupName=team%2Falpha").await.status, 404);
    assert_eq!(admin_get(&old, "/rest/api/group/info?groupName=team%2Falpha").await.status, 404);

    let new = versioned("10.2.0", 12);
    let members = admin_get(&new, "/rest/api/group/member?groupName=team%2Falpha&limit=2").await.json();
    assert_eq!(members["size"], 2);
    assert_eq!(members["_links"]["next"], "/rest/api/group/member?groupName=team%2Falpha&limit=2&start=2");
    let (all, _) = collect_all(&new, "/rest/api/group/member?groupName=team%2Falpha&limit=2").await;
    assert_eq!(all.len(), 3);
    let info = admin_get(&new, "/rest/api/group/info?groupName=team%2Falpha").await.json();
    assert_eq!(info["name"], "team/alpha");
}

#[tokio::test]
async fn non_admin_member_lists_are_401_on_8_x_and_403_elsewhere() {
    let zoe = bearer(&token_for("zoe.angstrom"));
    let uri = "/rest/api/group/big-group/member";
    let v85 = versioned("8.5.0", 12);
    let json = get(&v85, uri, Some(&zoe), Some(JSON)).await;
    assert_eq!((json.status, json.json()["statusCode"].as_u64()), (401, Some(401)));
    let xml = get(&v85, uri, Some(&zoe), None).await;
    assert_eq!(xml.status, 401);
    assert!(xml.body.contains("<status-code>401</status-code>"), "{}", xml.body);
    for version in ["7.19.0", "9.2.0", "10.2.0"] {
        let state = versioned(version, 12);
        assert_eq!(get(&state, uri, Some(&zoe), Some(JSON)).await.status, 403, "{version}");
    }
}

#[tokio::test]
async fn memberof_lists_the_groups_of_a_user_and_status_expands() {
    let state = versioned("9.2.0", 12);
    let zoe = bearer(&token_for("zoe.angstrom"));
    let reply = get(&state, "/rest/api/user/memberof?username=zoe.angstrom", Some(&zoe), Some(JSON)).await;
    let groups = names(reply.json()["results"].as_array().unwrap(), "name");
    assert_eq!(groups, ["confluence-users", "группа-разработки", "100% #1", "team/alpha", "big-group", "zoe.angstrom"]);
    let key = crate::user_key_for("shalom-cohen");
    let (items, _) = collect_all(&state, &format!("/rest/api/user/memberof?key={key}&limit=1")).await;
    assert_eq!(items.len(), 5);
    assert_eq!(admin_get(&state, "/rest/api/user/memberof?username=ghost").await.status, 404);
    let user = admin_get(&state, "/rest/api/user?username=shalom-cohen&expand=status").await.json();
    assert_eq!(user["status"], "deactivated");
}

#[tokio::test]
async fn space_list_filters_by_type_and_status() {
    let state = versioned("8.5.0", 12);
    let keys = |reply: Reply| names(reply.json()["results"].as_array().unwrap(), "key");
    let default = keys(admin_get(&state, "/rest/api/space").await);
    assert!(!default.contains(&"ARCH".to_string()) && default.contains(&"ds".to_string()));
    assert_eq!(default.len(), 8);
    let archived = keys(admin_get(&state, "/rest/api/space?status=archived").await);
    assert_eq!(archived, ["ARCH"]);
    let personal = keys(admin_get(&state, "/rest/api/space?type=personal").await);
    assert_eq!(personal, ["~zoe.angstrom".to_string(), format!("~{}", crate::ADMIN_USER_KEY)]);
    let page = admin_get(&state, "/rest/api/space?type=global&limit=2").await.json();
    assert_eq!(page["results"][0]["id"], 131073);
    assert_eq!(page["results"][0]["_links"]["webui"], "/display/ds");
    assert_eq!(page["results"][0]["_links"]["self"], format!("{ORIGIN}/rest/api/space/ds"));
    assert_eq!(admin_get(&state, "/rest/api/space?type=bogus").await.status, 400);

    let all = state_with(SimConfig { space_status_default_all: true, ..config(12) });
    assert_eq!(keys(admin_get(&all, "/rest/api/space").await).len(), 9);
    let anonymous = get(&all, "/rest/api/space", None, Some(JSON)).await;
    assert_eq!(keys(anonymous), ["ds", "PUB"]);
}

#[tokio::test]
async fn rest_space_permissions_exist_from_9_1_with_bare_array_shape() {
    assert_eq!(admin_get(&versioned("8.5.0", 12), "/rest/api/space/ds/permissions").await.status, 404);
    let state = versioned("9.2.0", 12);
    let rows = admin_get(&state, "/rest/api/space/ds/permissions").await.json();
    let rows = rows.as_array().expect("bare array");
    assert_eq!(rows.len(), 31);
    let admin_read = rows.iter().find(|r| r["subject"]["type"] == "user" && r["operation"]["operationKey"] == "read").unwrap();
    assert_eq!(
        admin_read,
        &serde_json::json!({
            "operation": {"targetType": "space", "operationKey": "read"},
            "subject": {"type": "user", "userKey": crate::ADMIN_USER_KEY},
            "spaceKey": "ds",
            "spaceId": 131073
        })
    );
    assert!(rows.iter().any(|r| r["subject"] == serde_json::json!({"type": "anonymous"})));
    assert!(rows.iter().any(|r| r["subject"] == serde_json::json!({"type": "group", "name": "confluence-users"})));
    let dev = admin_get(&state, "/rest/api/space/DEV/permissions").await.json();
    let ops: Vec<(String, String)> = dev
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["operation"]["targetType"].as_str().unwrap().into(), r["operation"]["operationKey"].as_str().unwrap().into()))
        .collect();
    assert!(ops.contains(&("page".into(), "export".into())));
    assert!(ops.contains(&("custom-type".into(), "read".into())));
    assert!(ops.contains(&("space".into(), "delete_mail".into())));
    let empty = admin_get(&state, "/rest/api/space/EMPTY/permissions").await.json();
    assert_eq!(empty, serde_json::json!([]));
    assert_eq!(admin_get(&state, "/rest/api/space/NOPE/permissions").await.status, 404);
    let zoe = bearer(&token_for("zoe.angstrom"));
    assert_eq!(get(&state, "/rest/api/space/ds/permissions", Some(&zoe), Some(JSON)).await.status, 403);
}

#[tokio::test]
async fn json_rpc_space_permission_sets_on_every_version() {
    for version in VERSION_PROFILES {
        let state = versioned(version, 12);
        let admin = bearer(ADMIN_TOKEN);
        let reply = post(&state, "/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets", &admin, r#"["PUB"]"#).await;
        assert_eq!(reply.status, 200, "{version}: {}", reply.body);
        assert_eq!(
            reply.json(),
            serde_json::json!([{"type": "VIEWSPACE", "spacePermissions": [
                {"type": "VIEWSPACE", "userName": null, "groupName": null}
            ]}])
        );
        let dev = post(&state, "/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets", &admin, r#"["DEV"]"#).await.json();
        let set = |key: &str| dev.as_array().unwrap().iter().find(|s| s["type"] == key).cloned();
        assert!(set("EXPORTPAGE").is_some() && set("read~custom-type").is_some());
        let view = set("VIEWSPACE").unwrap();
        let zoe_rows = view["spacePermissions"].as_array().unwrap().iter().filter(|r| r["userName"] == "zoe.angstrom" && r["groupName"].is_null()).count();
        assert_eq!(zoe_rows, 2, "duplicate row kept");
        assert!(view["spacePermissions"].as_array().unwrap().iter().any(|r| r["groupName"] == "team/alpha"));
    }
}

#[tokio::test]
async fn view_all_can_leave_deactivated_users_out_and_get_user_finds_them() {
    let state = state_with(SimConfig { version: "7.19.0".into(), view_all_includes_deactivated: false, ..config(12) });
    let admin = bearer(ADMIN_TOKEN);
    let rpc = "/rpc/json-rpc/confluenceservice-v2";
    let all = post(&state, &format!("{rpc}/getActiveUsers"), &admin, "[true]").await.json();
    assert_eq!(all.as_array().unwrap().len(), 11);
    assert!(!all.as_array().unwrap().contains(&Value::from("shalom-cohen")));
    let user = post(&state, &format!("{rpc}/getUser"), &admin, r#"["shalom-cohen"]"#).await.json();
    assert_eq!(user["name"], "shalom-cohen");
    assert_eq!(user["fullname"], "שלום כהן");
    assert!(user.get("status").is_none(), "the remote user bean has no status");
    let key = user["key"].as_str().unwrap().to_string();
    let by_key = post(&state, &format!("{rpc}/getUserByKey"), &admin, &format!("[\"{key}\"]")).await.json();
    assert_eq!(by_key["name"], "shalom-cohen");
    let missing = post(&state, &format!("{rpc}/getUser"), &admin, r#"["nobody"]"#).await.json();
    assert!(missing["error"]["message"].as_str().unwrap().contains("nobody"), "{missing}");
}

#[tokio::test]
async fn json_rpc_users_groups_errors_and_envelope() {
    let state = versioned("7.19.0", 12);
    let admin = bearer(ADMIN_TOKEN);
    let rpc = "/rpc/json-rpc/confluenceservice-v2";
    let all = post(&state, &format!("{rpc}/getActiveUsers"), &admin, "[true]").await.json();
    assert_eq!(all.as_array().unwrap().len(), 12);
    assert!(all.as_array().unwrap().contains(&Value::from("shalom-cohen")));
    let active = post(&state, &format!("{rpc}/getActiveUsers"), &admin, "[false]").await.json();
    assert_eq!(active.as_array().unwrap().len(), 11);
    assert!(!active.as_array().unwrap().contains(&Value::from("shalom-cohen")));
    let groups = post(&state, &format!("{rpc}/getGroups"), &admin, "[]").await.json();
    assert_eq!(groups.as_array().unwrap().len(), 10);
    let mine = post(&state, &format!("{rpc}/getUserGroups"), &admin, r#"["no_display.name"]"#).await.json();
    assert_eq!(mine, serde_json::json!(["confluence-users", "team/alpha", "big-group"]));
    let unknown = post(&state, &format!("{rpc}/frobnicate"), &admin, "[]").await;
    assert_eq!(unknown.status, 500);
    assert_eq!(unknown.json()["error"]["message"], "No such method: frobnicate");
    let zoe = bearer(&token_for("zoe.angstrom"));
    let denied = post(&state, &format!("{rpc}/getSpacePermissionSets"), &zoe, r#"["ds"]"#).await;
    assert_eq!(denied.status, 403);
    assert!(denied.json()["error"]["message"].is_string());
    let envelope = post(&state, rpc, &admin, r#"{"jsonrpc":"2.0","method":"getGroups","params":[],"id":7}"#).await.json();
    assert_eq!((envelope["id"].as_u64(), envelope["result"].as_array().map(Vec::len)), (Some(7), Some(10)));
    assert_eq!(get(&state, &format!("{rpc}/getGroups"), Some(&admin), Some(JSON)).await.status, 405);
}

#[tokio::test]
async fn admin_active_user_list_exists_from_9_3_with_emails() {
    assert_eq!(admin_get(&versioned("9.2.0", 12), "/rest/api/admin/users/list/active").await.status, 404);
    let state = versioned("9.3.0", 12);
    let page = admin_get(&state, "/rest/api/admin/users/list/active").await.json();
    let users = page["results"].as_array().unwrap();
    let listed = names(users, "username");
    assert!(!listed.contains(&"shalom-cohen".to_string()) && !listed.contains(&"unlicensed.user".to_string()));
    assert_eq!(page["totalCount"], 10);
    let zoe = users.iter().find(|u| u["username"] == "zoe.angstrom").unwrap();
    assert_eq!(zoe["email"], "zoe.angstrom@example.com");
    assert_eq!(zoe["type"], "known");
    let nameless = users.iter().find(|u| u["username"] == "no_display.name").unwrap();
    assert!(nameless.get("email").is_none());
    let zoe_token = bearer(&token_for("zoe.angstrom"));
    assert_eq!(get(&state, "/rest/api/admin/users/list/active", Some(&zoe_token), Some(JSON)).await.status, 403);
}
