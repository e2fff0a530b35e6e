//! A small HTTP JSON directory service (users, groups with members, roles with holders), the
//! target of the example connector written in Python (`examples/python-directory`). It is not
//! Confluence: it shows the runtime serving a second product. The API, as the guide in
//! `examples/python-directory/README.md` describes it:
//!
//! - every request needs `Authorization: Bearer <token>` (401 otherwise, 403 for a read-only token
//!   that writes);
//! - `GET /api/v1/users?offset=N&limit=M`, `/groups?...`, `/roles?...` answer
//!   `{"items": [...], "next_offset": N | null}` with `limit` clamped to 50;
//! - `GET /api/v1/users/{id}` one user (404 unknown);
//! - `GET /api/v1/groups/{id}/members?offset&limit`, `/roles/{id}/holders?...` user ids, paged the same way;
//! - `PUT /api/v1/groups/{id}/members/{user}` (and `/roles/{id}/holders/{user}`): 201 when added,
//!   200 when already there; `DELETE` the same path: 204 when removed, 200 when it was not
//!   there; 404 for an unknown group, role or user.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The token that may read and write.
pub const DIRECTORY_TOKEN: &str = "directory-admin-token";
/// A token that may only read.
pub const DIRECTORY_READ_TOKEN: &str = "directory-read-token";
/// Most items a page holds, whatever `limit` asks.
pub const MAX_LIMIT: usize = 50;

/// A person with an account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DirUser {
    pub id: String,
    pub login: String,
    pub email: String,
    pub name: String,
    pub active: bool,
}

/// A group or a role: a named set of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSet {
    pub name: String,
    pub users: Vec<String>,
}

/// The whole directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: BTreeMap<String, DirUser>,
    pub groups: BTreeMap<String, DirSet>,
    pub roles: BTreeMap<String, DirSet>,
}

impl Directory {
    /// `users` people, `groups` groups with every user in `(i + g) % 3 == 0` of group g, and
    /// two roles (`admin`: the first user; `auditor`: none).
    pub fn generate(users: usize, groups: usize) -> Directory {
        let mut directory = Directory::default();
        for i in 0..users {
            let id = format!("u{i:04}");
            let user =
                DirUser { id: id.clone(), login: format!("user{i}"), email: format!("user{i}@example.test"), name: format!("User {i}"), active: i % 7 != 6 };
            directory.users.insert(id, user);
        }
        let ids: Vec<String> = directory.users.keys().cloned().collect();
        for g in 0..groups {
            let members = ids.iter().enumerate().filter(|(i, _)| (i + g) % 3 == 0).map(|(_, id)| id.clone()).collect();
            directory.groups.insert(format!("g{g:02}"), DirSet { name: format!("Group {g}"), users: members });
        }
        directory.roles.insert("admin".into(), DirSet { name: "Administrator".into(), users: ids.iter().take(1).cloned().collect() });
        directory.roles.insert("auditor".into(), DirSet { name: "Auditor".into(), users: vec![] });
        directory
    }
}

#[derive(Default)]
struct Shared {
    directory: Mutex<Directory>,
    requests: Mutex<Vec<String>>,
}

/// A running directory service; stops when dropped.
pub struct DirectorySim {
    shared: Arc<Shared>,
    origin: String,
    _running: crate::running::Running,
}

impl DirectorySim {
    /// Serves `directory` on 127.0.0.1 (an ephemeral port) from a thread of its own.
    pub fn start(directory: Directory) -> anyhow::Result<DirectorySim> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.set_nonblocking(true)?;
        let origin = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared { directory: Mutex::new(directory), requests: Mutex::default() });
        let app = router(Arc::clone(&shared));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("directory-sim".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, app).with_graceful_shutdown(async move { drop(stopped.await) }).await;
            });
        })?;
        Ok(DirectorySim { shared, origin, _running: crate::running::Running::new(shutdown, Some(thread)) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        self.origin.clone()
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.shared.directory.lock().unwrap().clone()
    }

    /// Changes the directory in place.
    pub fn edit(&self, change: impl FnOnce(&mut Directory)) {
        change(&mut self.shared.directory.lock().unwrap());
    }

    /// Every request so far as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

/// The state every handler gets.
type App = Arc<Shared>;

fn router(shared: App) -> Router {
    Router::new()
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{id}", get(one_user))
        .route("/api/v1/groups", get(|s, h, q| list_sets(s, h, q, Kind::Group)))
        .route("/api/v1/roles", get(|s, h, q| list_sets(s, h, q, Kind::Role)))
        .route("/api/v1/groups/{id}/members", get(|s, h, p, q| set_users(s, h, p, q, Kind::Group)))
        .route("/api/v1/roles/{id}/holders", get(|s, h, p, q| set_users(s, h, p, q, Kind::Role)))
        .route("/api/v1/groups/{id}/members/{user}", put(|s, h, p| change(s, h, p, Kind::Group, true)).delete(|s, h, p| change(s, h, p, Kind::Group, false)))
        .route("/api/v1/roles/{id}/holders/{user}", put(|s, h, p| change(s, h, p, Kind::Role, true)).delete(|s, h, p| change(s, h, p, Kind::Role, false)))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), record))
        .with_state(shared)
}

async fn record(State(shared): State<App>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    shared.requests.lock().unwrap().push(line);
    next.run(request).await
}

#[derive(Clone, Copy)]
enum Kind {
    Group,
    Role,
}

#[derive(Deserialize)]
struct PageQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// Who the token is: `Some(true)` may write, `Some(false)` may read, `None` is refused.
fn may_write(headers: &HeaderMap) -> Option<bool> {
    let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    match token {
        DIRECTORY_TOKEN => Some(true),
        DIRECTORY_READ_TOKEN => Some(false),
        _ => None,
    }
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "a valid bearer token is required"}))).into_response()
}

fn page<T: Serialize>(items: &[T], query: &PageQuery) -> Response {
    let offset = query.offset.unwrap_or(0).min(items.len());
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
    let end = (offset + limit).min(items.len());
    let next = (end < items.len()).then_some(end);
    Json(json!({"items": &items[offset..end], "next_offset": next})).into_response()
}

async fn list_users(State(shared): State<App>, headers: HeaderMap, Query(query): Query<PageQuery>) -> Response {
    if may_write(&headers).is_none() {
        return unauthorized();
    }
    let users: Vec<DirUser> = shared.directory.lock().unwrap().users.values().cloned().collect();
    page(&users, &query)
}

async fn one_user(State(shared): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if may_write(&headers).is_none() {
        return unauthorized();
    }
    match shared.directory.lock().unwrap().users.get(&id) {
        Some(user) => Json(user.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": format!("no user {id}")}))).into_response(),
    }
}

fn sets(directory: &mut Directory, kind: Kind) -> &mut BTreeMap<String, DirSet> {
    match kind {
        Kind::Group => &mut directory.groups,
        Kind::Role => &mut directory.roles,
    }
}

async fn list_sets(State(shared): State<App>, headers: HeaderMap, Query(query): Query<PageQuery>, kind: Kind) -> Response {
    if may_write(&headers).is_none() {
        return unauthorized();
    }
    let mut directory = shared.directory.lock().unwrap();
    let items: Vec<serde_json::Value> = sets(&mut directory, kind).iter().map(|(id, set)| json!({"id": id, "name": set.name})).collect();
    page(&items, &query)
}

async fn set_users(State(shared): State<App>, headers: HeaderMap, Path(id): Path<String>, Query(query): Query<PageQuery>, kind: Kind) -> Response {
    if may_write(&headers).is_none() {
        return unauthorized();
    }
    let mut directory = shared.directory.lock().unwrap();
    match sets(&mut directory, kind).get(&id) {
        Some(set) => page(&set.users, &query),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": format!("no such set {id}")}))).into_response(),
    }
}

async fn change(State(shared): State<App>, headers: HeaderMap, Path((id, user)): Path<(String, String)>, kind: Kind, add: bool) -> Response {
    match may_write(&headers) {
        None => return unauthorized(),
        Some(false) => return (StatusCode::FORBIDDEN, Json(json!({"error": "this token may only read"}))).into_response(),
        Some(true) => {}
    }
    let mut directory = shared.directory.lock().unwrap();
    if !directory.users.contains_key(&user) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": format!("no user {user}")}))).into_response();
    }
    let Some(set) = sets(&mut directory, kind).get_mut(&id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": format!("no such set {id}")}))).into_response();
    };
    let present = set.users.contains(&user);
    match (add, present) {
        (true, false) => {
            set.users.push(user);
            StatusCode::CREATED.into_response()
        }
        (false, true) => {
            set.users.retain(|u| *u != user);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
