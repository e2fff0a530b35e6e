//! Shared server state: the configuration in force, the mutable directory (users, groups,
//! spaces and their permissions, global permissions), the request log and the fault queue, plus read accessors
//! tests use to check what writes changed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{FOREIGN_ORIGIN, LinkStyle, ServerVersion, SimConfig};
use crate::dataset::{Dataset, SimGlobalPermission, SimGroup, SimPermission, SimSpace, SimUser, Subject};
use crate::fault_plan::{FaultPlan, FaultRuntime, PlanDecision};
use crate::recording::{Fault, RecordedRequest};

/// The mutable content of the simulated Confluence.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: Vec<SimUser>,
    /// (personal access token, username)
    pub tokens: Vec<(String, String)>,
    pub groups: Vec<SimGroup>,
    pub spaces: Vec<SimSpace>,
    /// Site-wide permissions in stored order, one row per (pair, subject).
    pub global_permissions: Vec<SimGlobalPermission>,
    /// Where each username is in `users` (the first holder), kept by `create_user`: a member
    /// list of 1000 names must not scan 50,000 users per name, nor rebuild a map per request.
    user_positions: HashMap<String, usize>,
    /// Where each lower-cased group name is in `groups`; groups are never added or renamed.
    group_positions: HashMap<String, usize>,
}

impl Directory {
    pub fn from_dataset(dataset: &Dataset) -> Directory {
        let mut directory = Directory {
            users: dataset.users.clone(),
            tokens: dataset.tokens.clone(),
            groups: dataset.groups.clone(),
            spaces: dataset.spaces.clone(),
            global_permissions: dataset.global_permissions.clone(),
            user_positions: HashMap::new(),
            group_positions: HashMap::new(),
        };
        for (index, user) in dataset.users.iter().enumerate() {
            directory.user_positions.entry(user.username.clone()).or_insert(index);
        }
        for (index, group) in dataset.groups.iter().enumerate() {
            directory.group_positions.entry(group.name.to_lowercase()).or_insert(index);
        }
        directory
    }

    /// Adds a user at the end, keeping the username index.
    pub(crate) fn push_user(&mut self, user: SimUser) {
        self.user_positions.entry(user.username.clone()).or_insert(self.users.len());
        self.users.push(user);
    }

    /// Where group `name` is in `groups`: case-insensitive, as on a real server.
    pub(crate) fn group_position(&self, name: &str) -> Option<usize> {
        self.group_positions.get(&name.to_lowercase()).copied()
    }

    /// Group lookup is case-insensitive, as on a real server.
    pub fn group_by_name(&self, name: &str) -> Option<&SimGroup> {
        self.group_position(name).map(|index| &self.groups[index])
    }

    /// The groups `username` belongs to, in directory order.
    pub fn groups_of(&self, username: &str) -> Vec<&SimGroup> {
        self.groups.iter().filter(|g| g.members.iter().any(|m| m == username)).collect()
    }

    /// Space lookup is case-insensitive on the key.
    pub fn space_by_key(&self, key: &str) -> Option<&SimSpace> {
        let lower = key.to_lowercase();
        self.spaces.iter().find(|s| s.key.to_lowercase() == lower)
    }

    pub fn user_by_username(&self, username: &str) -> Option<&SimUser> {
        self.user_positions.get(username).map(|&index| &self.users[index])
    }

    pub fn user_by_key(&self, user_key: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.user_key == user_key)
    }

    pub fn username_for_token(&self, token: &str) -> Option<&str> {
        self.tokens.iter().find(|(t, _)| t == token).map(|(_, u)| u.as_str())
    }
}

/// Everything a request handler may read or change.
#[derive(Debug)]
pub struct SimState {
    pub config: SimConfig,
    pub version: ServerVersion,
    /// "" or "/confluence" (normalised).
    pub context_path: String,
    /// "http://127.0.0.1:PORT".
    pub origin: String,
    directory: RwLock<Directory>,
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<VecDeque<Fault>>,
    /// Requests received so far (numbered under the log lock, so log order = number order).
    request_count: AtomicU64,
    fault_plan: Mutex<FaultRuntime>,
    /// Connections and TLS handshakes (counted when serving HTTPS).
    pub connections: Arc<crate::tls::ConnectionCounts>,
}

impl SimState {
    pub fn new(config: SimConfig, origin: String) -> anyhow::Result<SimState> {
        let version = ServerVersion::parse(&config.version)?;
        anyhow::ensure!(config.max_limit > 0, "max_limit must be > 0");
        anyhow::ensure!((200..300).contains(&config.global_put_status), "global_put_status must be a 2xx status");
        Ok(SimState {
            context_path: config.normalized_context_path(),
            directory: RwLock::new(Directory::from_dataset(&config.dataset)),
            version,
            origin,
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            request_count: AtomicU64::new(0),
            fault_plan: Mutex::new(FaultRuntime::new(config.faults.clone(), 0)),
            connections: Default::default(),
            config,
        })
    }

    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        self.directory.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn directory_mut(&self) -> RwLockWriteGuard<'_, Directory> {
        self.directory.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, VecDeque<Fault>> {
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fault_runtime(&self) -> MutexGuard<'_, FaultRuntime> {
        self.fault_plan.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a request to the log; returns its index so the status can be filled in later.
    /// Counts the request (see [`SimState::request_count`]).
    pub fn record(&self, request: RecordedRequest) -> usize {
        self.record_numbered(request).0
    }

    /// Appends a request to the log and numbers it: returns (log index, request number,
    /// 1-based over the server's lifetime). Numbers follow log order.
    pub fn record_numbered(&self, request: RecordedRequest) -> (usize, u64) {
        let mut log = self.log();
        let number = self.request_count.fetch_add(1, Ordering::SeqCst) + 1;
        log.push(request);
        (log.len() - 1, number)
    }

    /// How many requests were received so far (not reset by clearing the log).
    pub fn request_count(&self) -> u64 {
        self.request_count.load(Ordering::SeqCst)
    }

    /// Replaces the fault plan. Its request numbering starts again at 1 with the next
    /// request, and its token bucket (if any) starts full.
    pub fn set_fault_plan(&self, plan: FaultPlan) {
        let mut runtime = self.fault_runtime();
        *runtime = FaultRuntime::new(plan, self.request_count());
    }

    /// The fault plan in force.
    pub fn fault_plan(&self) -> FaultPlan {
        self.fault_runtime().plan().clone()
    }

    /// What the fault plan does with the request numbered `number`.
    pub(crate) fn plan_decision(&self, number: u64) -> PlanDecision {
        self.fault_runtime().decide(number)
    }

    pub fn set_recorded_status(&self, index: usize, status: u16) {
        if let Some(entry) = self.log().get_mut(index) {
            entry.status = status;
        }
    }

    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.log().clone()
    }

    /// The recorded POST, PUT and DELETE requests, in arrival order.
    pub fn write_requests(&self) -> Vec<RecordedRequest> {
        self.log().iter().filter(|r| ["POST", "PUT", "DELETE"].contains(&r.method.as_str())).cloned().collect()
    }

    /// The current members of `group` (case-insensitive name), usernames sorted; empty when
    /// the group does not exist.
    pub fn group_members(&self, group: &str) -> Vec<String> {
        let mut members = self.directory().group_by_name(group).map(|g| g.members.clone()).unwrap_or_default();
        members.sort();
        members
    }

    /// The current permission rows of the space (case-insensitive key), in stored order;
    /// empty when the space does not exist.
    pub fn space_permissions(&self, key: &str) -> Vec<SimPermission> {
        self.directory().space_by_key(key).map(|s| s.permissions.clone()).unwrap_or_default()
    }

    /// The current global permission rows, in stored order.
    pub fn global_permissions(&self) -> Vec<SimGlobalPermission> {
        self.directory().global_permissions.clone()
    }

    /// The (targetType, operationKey) pairs `subject` holds now, sorted (group names compare
    /// case-insensitively, usernames exactly).
    pub fn global_permissions_of(&self, subject: &Subject) -> Vec<(String, String)> {
        let directory = self.directory();
        let mut pairs: Vec<(String, String)> =
            directory.global_permissions.iter().filter(|p| same_subject(&p.subject, subject)).map(|p| (p.target.clone(), p.operation.clone())).collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// The current state of a user (exact username).
    pub fn user(&self, username: &str) -> Option<SimUser> {
        self.directory().user_by_username(username).cloned()
    }

    pub fn clear_recorded_requests(&self) {
        self.log().clear();
    }

    pub fn queue_faults(&self, faults: Vec<Fault>) {
        self.faults().extend(faults);
    }

    pub fn take_fault(&self) -> Option<Fault> {
        self.faults().pop_front()
    }

    /// `_links.base`: the server's idea of its base URL (origin + context path).
    pub fn link_base(&self) -> String {
        match self.config.link_style {
            LinkStyle::Relative | LinkStyle::Absolute => {
                format!("{}{}", self.origin, self.context_path)
            }
            LinkStyle::ForeignBase => format!("{FOREIGN_ORIGIN}{}", self.context_path),
        }
    }

    /// `_links.context`.
    pub fn link_context(&self) -> String {
        self.context_path.clone()
    }

    /// A navigation link (`next`/`prev`) for `path_and_query` (which excludes the context path).
    pub fn navigation_link(&self, path_and_query: &str) -> String {
        match self.config.link_style {
            LinkStyle::Relative => path_and_query.to_string(),
            LinkStyle::Absolute | LinkStyle::ForeignBase => {
                format!("{}{path_and_query}", self.link_base())
            }
        }
    }

    /// An absolute link such as `_links.self` (always absolute on real servers).
    pub fn absolute_link(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.link_base())
    }
}

/// Subjects compare as the server compares them: group names case-insensitively.
fn same_subject(a: &Subject, b: &Subject) -> bool {
    match (a, b) {
        (Subject::Group(a), Subject::Group(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    }
}
