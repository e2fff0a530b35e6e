//! Tests of the write endpoints through the router: the XSRF rule, REST and JSON-RPC group
//! membership, REST and JSON-RPC space permission grants, and user creation.

use super::*;
use crate::{SimPermission, Subject};

const RPC: &str = "/rpc/json-rpc/confluenceservice-v2";

fn at(version: &str) -> Arc<SimState> {
    state_with(SimConfig { version: version.into(), ..config(12) })
}

fn admin() -> String {
    bearer(ADMIN_TOKEN)
}

fn zoe() -> String {
    bearer(&token_for("zoe.angstrom"))
}

/// Sends `method uri` with JSON `Accept`, optional credentials, content type and headers.
pub(super) async fn send(state: &Arc<SimState>, method: &str, uri: &str, authorization: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut builder = Request::builder().method(method).uri(uri).header("accept", JSON);
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Body::from(body.to_string())).unwrap();
    exchange(state, request).await
}

/// A JSON-bodied write by `authorization`.
pub(super) async fn write(state: &Arc<SimState>, method: &str, uri: &str, authorization: &str, body: &str) -> Reply {
    let headers = [("content-type", JSON)];
    send(state, method, uri, Some(authorization), &headers, body).await
}

async fn rpc(state: &Arc<SimState>, method: &str, authorization: &str, params: &str) -> Reply {
    let uri = format!("{RPC}/{method}");
    write(state, "POST", &uri, authorization, params).await
}

pub(super) fn status_and_code(reply: &Reply) -> (u16, Option<u64>) {
    (reply.status, reply.json()["statusCode"].as_u64())
}

async fn member_names(state: &Arc<SimState>, group_path: &str) -> Vec<String> {
    let reply = admin_get(state, &format!("/rest/api/group/{group_path}/member")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = reply.json();
    page["results"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn rest_membership_writes_are_idempotent_and_visible() {
    for version in ["8.5.0", "9.2.0", "10.2.0"] {
        let state = at(version);
        let uri = "/rest/api/user/eigyo_taro/group/empty-group";
        for _ in 0..2 {
            let reply = write(&state, "PUT", uri, &admin(), "").await;
            assert_eq!((reply.status, reply.body.as_str()), (204, ""), "{version}");
        }
        assert_eq!(member_names(&state, "empty-group").await, ["eigyo_taro"]);
        assert_eq!(state.group_members("empty-group"), ["eigyo_taro"]);
        for _ in 0..2 {
            assert_eq!(write(&state, "DELETE", uri, &admin(), "").await.status, 204);
        }
        assert!(member_names(&state, "empty-group").await.is_empty());
    }
}

#[tokio::test]
async fn rest_membership_decodes_names_and_reports_errors() {
    let state = at("8.5.0");
    let encoded = "/rest/api/user/eigyo_taro/group/r%26d%20%2B%20ops";
    assert_eq!(write(&state, "PUT", encoded, &admin(), "").await.status, 204);
    assert!(state.group_members("r&d + ops").contains(&"eigyo_taro".to_string()));
    let cases = [
        ("/rest/api/user/ghost/group/empty-group", 404),
        ("/rest/api/user/admin/group/no-such-group", 404),
        ("/rest/api/user/admin/group/team%2Falpha", 400),
        ("/rest/api/user/admin/group/team/alpha", 404),
    ];
    for (uri, status) in cases {
        assert_eq!(write(&state, "PUT", uri, &admin(), "").await.status, status, "{uri}");
    }
    let missing = write(&state, "DELETE", cases[0].0, &admin(), "").await;
    assert_eq!(status_and_code(&missing), (404, Some(404)));
    let denied = write(&state, "PUT", encoded, &zoe(), "").await;
    assert_eq!(status_and_code(&denied), (403, Some(403)), "8.x writes get 403");
    let anonymous = send(&state, "PUT", encoded, None, &[], "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(write(&state, "GET", encoded, &admin(), "").await.status, 405);
}

#[tokio::test]
async fn rest_membership_is_missing_before_8_2() {
    for version in ["7.19.0", "8.1.0"] {
        let state = at(version);
        let reply = write(&state, "PUT", "/rest/api/user/eigyo_taro/group/empty-group", &admin(), "").await;
        assert_eq!(reply.status, 404, "{version}");
        assert!(state.group_members("empty-group").is_empty());
    }
}

#[tokio::test]
async fn json_rpc_membership_works_on_7_19_and_for_slash_groups() {
    let state = at("7.19.0");
    let add = rpc(&state, "addUserToGroup", &admin(), r#"["eigyo_taro","team/alpha"]"#).await;
    assert_eq!((add.status, add.json()), (200, Value::Bool(true)));
    let again = rpc(&state, "addUserToGroup", &admin(), r#"["eigyo_taro","team/alpha"]"#).await;
    assert_eq!(again.json(), Value::Bool(true));
    assert_eq!(state.group_members("team/alpha"), ["admin", "eigyo_taro", "no_display.name", "zoe.angstrom"]);
    let groups = rpc(&state, "getUserGroups", &admin(), r#"["eigyo_taro"]"#).await.json();
    assert!(groups.as_array().unwrap().contains(&Value::from("team/alpha")));
    let remove = rpc(&state, "removeUserFromGroup", &admin(), r#"["eigyo_taro","team/alpha"]"#).await;
    assert_eq!(remove.json(), Value::Bool(true));
    assert!(!state.group_members("team/alpha").contains(&"eigyo_taro".to_string()));
    for params in [r#"["eigyo_taro","nope"]"#, r#"["ghost","team/alpha"]"#, "[1]", "{bad"] {
        let reply = rpc(&state, "addUserToGroup", &admin(), params).await;
        assert_eq!(reply.status, 500, "{params}");
        assert!(reply.json()["error"]["message"].is_string());
    }
    let denied = rpc(&state, "addUserToGroup", &zoe(), r#"["zoe.angstrom","big-group"]"#).await;
    assert_eq!(denied.status, 403);
}

#[tokio::test]
async fn xsrf_rejects_simple_bodies_without_the_token() {
    let state = at("9.2.0");
    let body = "userName=x";
    for content_type in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain;charset=UTF-8"] {
        let headers = [("content-type", content_type)];
        let auth = Some(admin());
        let reply = send(&state, "POST", "/rest/api/admin/user", auth.as_deref(), &headers, body);
        let reply = reply.await;
        assert_eq!(reply.status, 403, "{content_type}");
        assert_eq!(reply.body, "XSRF check failed");
        assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    }
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let rpc_uri = format!("{RPC}/addUserToGroup");
    let params = r#"["eigyo_taro","empty-group"]"#;
    let admin = Some(admin());
    let blocked = send(&state, "POST", &rpc_uri, admin.as_deref(), &form, params).await;
    assert_eq!(blocked.status, 403);
    let membership = "/rest/api/user/eigyo_taro/group/empty-group";
    let blocked = send(&state, "DELETE", membership, admin.as_deref(), &form, "").await;
    assert_eq!(blocked.status, 403);
    assert!(state.group_members("empty-group").is_empty());
    for token in ["no-check", "nocheck"] {
        let with_token = [form[0], ("x-atlassian-token", token)];
        let passed = send(&state, "POST", &rpc_uri, admin.as_deref(), &with_token, params).await;
        assert_eq!(passed.status, 200, "{token}: {}", passed.body);
    }
    assert_eq!(state.group_members("empty-group"), ["eigyo_taro"]);
    let json = write(&state, "PUT", membership, admin.as_deref().unwrap(), "").await;
    assert_eq!(json.status, 204);
}

#[tokio::test]
async fn write_requests_lists_only_mutating_requests() {
    let state = at("9.2.0");
    admin_get(&state, "/rest/api/user/current").await;
    write(&state, "PUT", "/rest/api/user/admin/group/empty-group", &admin(), "").await;
    rpc(&state, "getGroups", &admin(), "[]").await;
    let writes = state.write_requests();
    assert_eq!(writes.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["PUT", "POST"]);
    assert_eq!(writes[0].status, 204);
    assert_eq!(state.recorded_requests().len(), 3);
}

fn operations(pairs: &[(&str, &str)]) -> String {
    let items: Vec<Value> = pairs.iter().map(|(t, o)| serde_json::json!({"targetType": t, "operationKey": o})).collect();
    Value::Array(items).to_string()
}

/// The (targetType, operationKey, subject) triples GET .../permissions reports for a space.
async fn rest_rows(state: &Arc<SimState>, key: &str) -> Vec<(String, String, Value)> {
    let reply = admin_get(state, &format!("/rest/api/space/{key}/permissions")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let op = &row["operation"];
            let text = |v: &Value| v.as_str().unwrap().to_string();
            (text(&op["targetType"]), text(&op["operationKey"]), row["subject"].clone())
        })
        .collect()
}

/// getSpacePermissionSets flattened to (key, userName, groupName) rows.
async fn rpc_rows(state: &Arc<SimState>, key: &str) -> Vec<(String, Value, Value)> {
    let params = format!("[\"{key}\"]");
    let sets = rpc(state, "getSpacePermissionSets", &admin(), &params).await.json();
    sets.as_array()
        .unwrap()
        .iter()
        .flat_map(|set| set["spacePermissions"].as_array().unwrap().clone())
        .map(|row| {
            let key = row["type"].as_str().unwrap().to_string();
            (key, row["userName"].clone(), row["groupName"].clone())
        })
        .collect()
}

#[tokio::test]
async fn rest_grant_and_revoke_are_visible_to_rest_and_json_rpc() {
    let state = at("9.2.0");
    let zoe_key = state.user("zoe.angstrom").unwrap().user_key;
    let grant = format!("/rest/api/space/EMPTY/permissions/user/{zoe_key}/grant");
    let body = operations(&[("space", "read"), ("page", "create")]);
    for _ in 0..2 {
        assert_eq!(write(&state, "PUT", &grant, &admin(), &body).await.status, 204);
    }
    let zoe_subject = serde_json::json!({"type": "user", "userKey": zoe_key});
    assert_eq!(rest_rows(&state, "EMPTY").await, [("space".into(), "read".into(), zoe_subject.clone()), ("page".into(), "create".into(), zoe_subject.clone())]);
    let zoe_name = Value::from("zoe.angstrom");
    assert_eq!(rpc_rows(&state, "EMPTY").await, [("VIEWSPACE".into(), zoe_name.clone(), Value::Null), ("EDITSPACE".into(), zoe_name, Value::Null)]);
    let revoke = grant.replace("/grant", "/revoke");
    let read = operations(&[("space", "read"), ("comment", "create")]);
    assert_eq!(write(&state, "PUT", &revoke, &admin(), &read).await.status, 204);
    assert_eq!(state.space_permissions("EMPTY"), [SimPermission::new("EDITSPACE", Subject::User("zoe.angstrom".into()))]);
}

#[tokio::test]
async fn rest_group_and_anonymous_grants_store_legacy_keys() {
    let state = at("9.2.0");
    let base = "/rest/api/space/EMPTY/permissions";
    let admin_write = |path: String, body: String| {
        let state = Arc::clone(&state);
        async move { write(&state, "PUT", &path, &admin(), &body).await.status }
    };
    let group = format!("{base}/group/r%26d%20%2B%20ops/grant");
    assert_eq!(admin_write(group, operations(&[("space", "administer")])).await, 204);
    let anonymous = format!("{base}/anonymous/grant");
    assert_eq!(admin_write(anonymous, operations(&[("space", "read")])).await, 204);
    assert_eq!(
        state.space_permissions("EMPTY"),
        [SimPermission::new("SETSPACEPERMISSIONS", Subject::Group("r&d + ops".into())), SimPermission::new("VIEWSPACE", Subject::Anonymous)]
    );
    let rows = rest_rows(&state, "EMPTY").await;
    assert_eq!(rows[1].2, serde_json::json!({"type": "anonymous"}));
    let revoke = format!("{base}/anonymous/revoke");
    assert_eq!(admin_write(revoke, operations(&[("space", "read")])).await, 204);
    assert_eq!(state.space_permissions("EMPTY").len(), 1);
}

#[tokio::test]
async fn rest_permission_write_errors() {
    let state = at("9.2.0");
    let base = "/rest/api/space/EMPTY/permissions";
    let read = operations(&[("space", "read")]);
    let cases = [
        (format!("{base}/anonymous/grant"), operations(&[("page", "export")]), 400),
        (format!("{base}/anonymous/grant"), "{not json".to_string(), 400),
        (format!("{base}/anonymous/grant"), r#"{"targetType":"space"}"#.to_string(), 400),
        (format!("{base}/anonymous/grant"), r#"[{"targetType":"space"}]"#.to_string(), 400),
        (format!("{base}/user/ffffffffffffffffffffffffffffffff/grant"), read.clone(), 404),
        (format!("{base}/group/no-such-group/revoke"), read.clone(), 404),
        ("/rest/api/space/NOPE/permissions/anonymous/grant".to_string(), read.clone(), 404),
        (format!("{base}/anonymous/frobnicate"), read.clone(), 404),
    ];
    for (uri, body, status) in &cases {
        let reply = write(&state, "PUT", uri, &admin(), body).await;
        assert_eq!(status_and_code(&reply), (*status, Some(u64::from(*status))), "{uri} {body}");
    }
    let denied = write(&state, "PUT", &cases[0].0, &zoe(), &read).await;
    assert_eq!(denied.status, 403);
    assert!(state.space_permissions("EMPTY").is_empty());
    let old = at("8.5.0");
    let reply = write(&old, "PUT", &format!("{base}/anonymous/grant"), &admin(), &read).await;
    assert_eq!(reply.status, 404);
    assert!(old.space_permissions("EMPTY").is_empty());
}

#[tokio::test]
async fn json_rpc_permission_writes_on_7_19() {
    let state = at("7.19.0");
    let calls = [
        ("addPermissionToSpace", r#"["VIEWSPACE","eigyo_taro","EMPTY"]"#),
        ("addPermissionsToSpace", r#"[["COMMENT","EDITSPACE"],"team/alpha","empty"]"#),
        ("addAnonymousPermissionToSpace", r#"["VIEWSPACE","EMPTY"]"#),
        ("addPermissionToSpace", r#"["VIEWSPACE","eigyo_taro","EMPTY"]"#),
    ];
    for (method, params) in calls {
        let reply = rpc(&state, method, &admin(), params).await;
        assert_eq!((reply.status, reply.json()), (200, Value::Bool(true)), "{method}");
    }
    let team = || Subject::Group("team/alpha".into());
    assert_eq!(
        state.space_permissions("EMPTY"),
        [
            SimPermission::new("VIEWSPACE", Subject::User("eigyo_taro".into())),
            SimPermission::new("COMMENT", team()),
            SimPermission::new("EDITSPACE", team()),
            SimPermission::new("VIEWSPACE", Subject::Anonymous),
        ]
    );
    let removals = [
        ("removePermissionFromSpace", r#"["COMMENT","team/alpha","EMPTY"]"#),
        ("removeAnonymousPermissionFromSpace", r#"["VIEWSPACE","EMPTY"]"#),
        ("removePermissionFromSpace", r#"["COMMENT","team/alpha","EMPTY"]"#),
    ];
    for (method, params) in removals {
        assert_eq!(rpc(&state, method, &admin(), params).await.json(), Value::Bool(true));
    }
    assert_eq!(rpc_rows(&state, "EMPTY").await.len(), 2);
    for (method, params) in [
        ("addPermissionToSpace", r#"["BOGUS","eigyo_taro","EMPTY"]"#),
        ("addPermissionToSpace", r#"["VIEWSPACE","ghost","EMPTY"]"#),
        ("addPermissionToSpace", r#"["VIEWSPACE","eigyo_taro","NOPE"]"#),
        ("addPermissionsToSpace", r#"[["VIEWSPACE",3],"eigyo_taro","EMPTY"]"#),
        ("addAnonymousPermissionToSpace", r#"["VIEWSPACE"]"#),
    ] {
        let reply = rpc(&state, method, &admin(), params).await;
        assert_eq!(reply.status, 500, "{params}");
        assert!(reply.json()["error"]["message"].is_string());
    }
    let denied = rpc(&state, "addAnonymousPermissionToSpace", &zoe(), r#"["VIEWSPACE","EMPTY"]"#).await;
    assert_eq!(denied.status, 403);
    assert_eq!(state.space_permissions("EMPTY").len(), 2);
}

#[tokio::test]
async fn json_rpc_entity_named_like_a_user_and_a_group_follows_the_knob() {
    for (prefers_group, expected) in [(false, Subject::User("zoe.angstrom".into())), (true, Subject::Group("zoe.angstrom".into()))] {
        let state = state_with(SimConfig { version: "8.5.0".into(), rpc_entity_prefers_group: prefers_group, ..config(12) });
        let params = r#"["EXPORTSPACE","zoe.angstrom","EMPTY"]"#;
        assert_eq!(rpc(&state, "addPermissionToSpace", &admin(), params).await.status, 200);
        assert_eq!(state.space_permissions("EMPTY"), [SimPermission::new("EXPORTSPACE", expected)]);
    }
}

fn new_user_body(username: &str) -> Value {
    serde_json::json!({
        "userName": username,
        "fullName": "New Person",
        "email": format!("{username}@example.org"),
        "password": "s3cret",
        "notifyViaEmail": false,
    })
}

async fn create(state: &Arc<SimState>, authorization: &str, body: &Value) -> Reply {
    write(state, "POST", "/rest/api/admin/user", authorization, &body.to_string()).await
}

#[tokio::test]
async fn created_users_are_listed_and_can_sign_in() {
    let state = at("9.2.0");
    let reply = create(&state, &admin(), &new_user_body("new.person")).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let user_key = reply.json()["userKey"].as_str().unwrap().to_string();
    assert!(user_key.len() == 32 && user_key.chars().all(|c| c.is_ascii_hexdigit()));
    let (listed, _, _) = list_all_users(&state, "/rest/api/user/list?expand=status", "").await;
    assert!(listed.contains(&"new.person".to_string()));
    let user = state.user("new.person").unwrap();
    assert_eq!(user.user_key, user_key);
    assert_eq!(user.status.as_deref(), Some("current"));
    assert_eq!(user.display_name.as_deref(), Some("New Person"));
    assert_eq!(user.email.as_deref(), Some("new.person@example.org"));
    assert!(user.password_set && !user.notified_by_email);
    let me = get(&state, "/rest/api/user/current", Some(&bearer(&token_for("new.person"))), Some(JSON)).await;
    assert_eq!(me.json()["userKey"], user_key);
    let duplicate = create(&state, &admin(), &new_user_body("new.person")).await;
    assert_eq!(status_and_code(&duplicate), (409, Some(409)));
    let mut notified = new_user_body("mailed.person");
    notified["notifyViaEmail"] = Value::Bool(true);
    notified.as_object_mut().unwrap().remove("password");
    assert_eq!(create(&state, &admin(), &notified).await.status, 201);
    let mailed = state.user("mailed.person").unwrap();
    assert!(!mailed.password_set && mailed.notified_by_email && mailed.password.is_none());
    assert_eq!(state.config.dataset.expected(), Dataset::generate(12).expected());
}

#[tokio::test]
async fn create_user_validation_names_the_field() {
    let state = at("8.5.0");
    let change = |edit: fn(&mut Value)| {
        let mut body = new_user_body("valid.name");
        edit(&mut body);
        body
    };
    let cases: [(&str, Value); 10] = [
        ("userName", change(|b| b["userName"] = "Upper.Case".into())),
        ("userName", change(|b| b["userName"] = "white space".into())),
        ("userName", change(|b| b["userName"] = "comma,name".into())),
        ("userName", change(|b| b["userName"] = "anonymous".into())),
        ("fullName", change(|b| b["fullName"] = "<script>".into())),
        ("email", change(|b| b["email"] = "not-an-email".into())),
        ("email", change(|b| b["email"] = "".into())),
        (
            "password",
            change(|b| {
                b.as_object_mut().unwrap().remove("password");
            }),
        ),
        ("password", change(|b| b["notifyViaEmail"] = true.into())),
        ("notifyViaEmail", change(|b| b["notifyViaEmail"] = "yes".into())),
    ];
    for (field, body) in &cases {
        let reply = create(&state, &admin(), body).await;
        assert_eq!(status_and_code(&reply), (400, Some(400)), "{body}");
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(field), "{field}: {message}");
    }
    let malformed = write(&state, "POST", "/rest/api/admin/user", &admin(), "{oops").await;
    assert_eq!(status_and_code(&malformed), (400, Some(400)));
    assert!(state.user("valid.name").is_none());
    assert_eq!(state.directory().users.len(), 12);
}

#[tokio::test]
async fn create_user_needs_a_seat_an_admin_and_8_4() {
    let licensed = 10;
    let state = state_with(SimConfig { version: "9.2.0".into(), licence_seats: Some(licensed + 1), ..config(12) });
    assert_eq!(create(&state, &admin(), &new_user_body("seat.one")).await.status, 201);
    let full = create(&state, &admin(), &new_user_body("seat.two")).await;
    assert_eq!(status_and_code(&full), (402, Some(402)));
    assert!(state.user("seat.two").is_none());
    let denied = create(&state, &zoe(), &new_user_body("by.zoe")).await;
    assert_eq!(status_and_code(&denied), (403, Some(403)));
    for version in ["7.19.0", "8.3.0"] {
        let old = at(version);
        assert_eq!(create(&old, &admin(), &new_user_body("too.early")).await.status, 404);
        assert!(old.user("too.early").is_none());
    }
}

#[tokio::test]
async fn json_rpc_add_user_on_7_19() {
    let state = at("7.19.0");
    let params = r#"[{"name":"rpc.user","fullname":"Rpc User","email":"rpc@example.com"},"pw"]"#;
    let reply = rpc(&state, "addUser", &admin(), params).await;
    assert_eq!((reply.status, reply.json()), (200, Value::Bool(true)));
    let user = state.user("rpc.user").unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Rpc User"));
    assert!(user.password_set && !user.notified_by_email);
    let names = rpc(&state, "getActiveUsers", &admin(), "[true]").await.json();
    assert!(names.as_array().unwrap().contains(&Value::from("rpc.user")));
    for params in [
        params,
        r#"[{"name":"Bad","fullname":"B","email":"b@example.com"},"pw"]"#,
        r#"[{"name":"no.password","fullname":"N","email":"n@example.com"}]"#,
        r#"["not an object","pw"]"#,
    ] {
        let reply = rpc(&state, "addUser", &admin(), params).await;
        assert_eq!(reply.status, 500, "{params}");
        assert!(reply.json()["error"]["message"].is_string());
    }
    let denied = rpc(&state, "addUser", &zoe(), r#"[{"name":"z2","fullname":"Z","email":"z@x.io"},"p"]"#).await;
    assert_eq!(denied.status, 403);
}
