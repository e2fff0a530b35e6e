//! Running one ConductorOne task and answering it: `hello` (a fresh Hello, no FinishTask),
//! `sync_full` (a sync into a temporary `.c1z`, uploaded, with heartbeats that can cancel
//! it), `grant`, `revoke` and `create_account` (through the same calls as the one-shot
//! flags, answered with baton's response messages), and anything else (a type this build does
//! not know included) as an unsupported task type. Provisioning tasks are refused unless
//! `--provisioning` is on. A task marked `debug` runs with its log captured; a sync uploads
//! that log after the file, as baton-sdk does.

use super::client::C1Client;
use super::{debug_log, hello, upload};
use crate::connector::Connector;
use crate::provision::{self, Outcome, Prepared};
use anyhow::{Context, Result, anyhow, bail};
use baton_c1api::pb::baton_service_finish_task_request::{Error as TaskError, FinalState, Success};
use baton_c1api::pb::task::{self, TaskType};
use baton_c1api::pb::{BatonServiceFinishTaskRequest, Task};
use baton_c1api::rpc;
use baton_c1z::any;
use baton_c1z::pb;
use baton_sandbox::wit;
use baton_sync::convert;
use baton_sync::{self as sync, SyncOptions, Target};
use std::time::Duration;
use tracing::Instrument;

/// Everything a task needs.
pub struct TaskContext<'a> {
    pub client: &'a C1Client,
    pub connector: &'a Connector<'a>,
    pub metadata: &'a wit::Metadata,
    pub types: &'a [wit::ResourceType],
    pub provisioning: bool,
    /// Heartbeat interval the server asked for with the task (0 means 30 s).
    pub next_heartbeat: Duration,
}

/// How a task ended, for FinishTask.
enum Ending {
    Success(Option<prost_types::Any>, Vec<prost_types::Any>),
    Failure { code: tonic::Code, message: String, non_retryable: bool },
}

/// Runs `task` and reports its end to ConductorOne.
pub async fn run(cx: &TaskContext<'_>, task: Task) {
    let id = task.id.clone();
    let kind = kind_name(task.task_type.as_ref());
    if is_no_task(&task) {
        tracing::debug!("no task for now");
        return;
    }
    let capture = task.debug.then(|| debug_log::Capture::start(&id));
    let span = capture.as_ref().map(|c| c.span().clone()).unwrap_or_else(tracing::Span::none);
    run_in(cx, task, kind, capture.as_ref()).instrument(span).await
}

/// Runs a task (inside its debug span, if any) and finishes it.
async fn run_in(cx: &TaskContext<'_>, task: Task, kind: &'static str, capture: Option<&debug_log::Capture>) {
    let id = task.id.clone();
    tracing::info!(task_id = %id, task = kind, debug = task.debug, "task started");
    let ending = match task.task_type {
        // A type this build does not know (added to C1 later) arrives as no known case; like
        // baton-sdk, it is finished as unsupported rather than left for C1 to time out.
        None => unsupported(),
        Some(TaskType::None(_)) => return,
        Some(TaskType::Hello(_)) => {
            let request = hello::request(cx.client.host_id(), &id, hello::connector_metadata(cx.metadata, cx.types));
            if let Err(error) = cx.client.hello(request).await {
                tracing::warn!(task_id = %id, error = %error, "the hello task's Hello failed");
            }
            return;
        }
        Some(TaskType::SyncFull(sync)) => ended(super::heartbeat::while_running(cx.client, &id, cx.next_heartbeat, sync_full(cx, &id, sync, capture)).await),
        Some(TaskType::Grant(grant)) => provisioning(cx, async { grant_task(cx, grant).await }).await,
        Some(TaskType::Revoke(revoke)) => provisioning(cx, async { revoke_task(cx, revoke).await }).await,
        Some(TaskType::CreateAccount(create)) => provisioning(cx, async { create_account_task(cx, create).await }).await,
        Some(_) => unsupported(),
    };
    if let Ending::Failure { message, .. } = &ending {
        tracing::warn!(task_id = %id, task = kind, error = %message, "task failed");
    } else {
        tracing::info!(task_id = %id, task = kind, "task finished");
    }
    finish(cx, &id, finish_request(cx.client.host_id(), &id, ending)).await;
}

/// Attempts at FinishTask when the connection to C1 fails: a task that ran must be reported,
/// or C1 waits for it until it times out.
const FINISH_ATTEMPTS: u32 = 6;

/// Sends FinishTask, again with backoff (1 s, doubling) while C1 cannot be reached; an answer
/// from C1 (accepted or refused) ends it.
async fn finish(cx: &TaskContext<'_>, id: &str, request: BatonServiceFinishTaskRequest) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=FINISH_ATTEMPTS {
        match cx.client.finish_task(request.clone()).await {
            Ok(_) => return,
            Err(error) if attempt < FINISH_ATTEMPTS && is_transient(error.code()) => {
                tracing::warn!(task_id = %id, error = %error, attempt, retry_in_s = wait.as_secs(), "FinishTask failed; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(error) => {
                tracing::warn!(task_id = %id, error = %error, attempt, "FinishTask failed");
                return;
            }
        }
    }
}

/// Codes that mean the call did not get through (or C1 could not take it now).
fn is_transient(code: tonic::Code) -> bool {
    matches!(code, tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded | tonic::Code::Aborted | tonic::Code::ResourceExhausted)
}

/// An answer without work: the explicit `none` case, or nothing at all (no id, no type). A
/// task with an id but no case this build knows is a task of a newer type, not "no task".
pub fn is_no_task(task: &Task) -> bool {
    match task.task_type {
        Some(TaskType::None(_)) => true,
        None => task.id.is_empty(),
        Some(_) => false,
    }
}

/// baton-sdk's answer to a task type it cannot run (code Unknown, retryable; docs/c1z-and-c1.md §5.4).
fn unsupported() -> Ending {
    Ending::Failure { code: tonic::Code::Unknown, message: "unsupported task type".into(), non_retryable: false }
}

fn kind_name(task_type: Option<&TaskType>) -> &'static str {
    match task_type {
        None => "unknown",
        Some(TaskType::None(_)) => "none",
        Some(TaskType::Hello(_)) => "hello",
        Some(TaskType::SyncFull(_)) => "sync_full",
        Some(TaskType::Grant(_)) => "grant",
        Some(TaskType::Revoke(_)) => "revoke",
        Some(TaskType::CreateAccount(_)) => "create_account",
        Some(_) => "unsupported",
    }
}

/// A sync's result: success without a response, or a retryable failure.
fn ended(result: Result<()>) -> Ending {
    match result {
        Ok(()) => Ending::Success(None, Vec::new()),
        Err(error) => Ending::Failure { code: tonic::Code::Unknown, message: format!("{error:#}"), non_retryable: false },
    }
}

/// A provisioning task's result (errors are final: baton marks them non-retryable).
async fn provisioning(cx: &TaskContext<'_>, work: impl Future<Output = Result<(prost_types::Any, Vec<prost_types::Any>)>>) -> Ending {
    if !cx.provisioning {
        return Ending::Failure {
            code: tonic::Code::FailedPrecondition,
            message: format!(
                "provisioning is off on this connector: start it with --provisioning (BATON_PROVISIONING=true) to let it change {}",
                cx.metadata.display_name
            ),
            non_retryable: true,
        };
    }
    match work.await {
        Ok((response, annotations)) => Ending::Success(Some(response), annotations),
        Err(error) => Ending::Failure { code: tonic::Code::Unknown, message: format!("{error:#}"), non_retryable: true },
    }
}

fn finish_request(host_id: &str, task_id: &str, ending: Ending) -> BatonServiceFinishTaskRequest {
    let (status, final_state) = match ending {
        Ending::Success(response, annotations) => (None, FinalState::Success(Success { annotations, response })),
        Ending::Failure { code, message, non_retryable } => (
            Some(rpc::Status { code: code as i32, message, details: Vec::new() }),
            FinalState::Error(TaskError { non_retryable, annotations: Vec::new(), response: None }),
        ),
    };
    BatonServiceFinishTaskRequest { host_id: host_id.into(), task_id: task_id.into(), status, final_state: Some(final_state) }
}

/// What a sync task asks for, as sync options. Targeted resources without an id are refused.
fn sync_options(task: &task::SyncFullTask) -> Result<SyncOptions> {
    let targets = task.targeted_sync_resources.iter().map(target).collect::<Result<Vec<_>>>()?;
    Ok(SyncOptions {
        resource_type_ids: task.sync_resource_type_ids.clone(),
        skip_entitlements_and_grants: task.skip_entitlements_and_grants,
        skip_grants: task.skip_grants,
        targets,
        strict: false,
        // Each task's file is new and uploaded whole: there is no earlier sync to keep.
        keep_previous_sync: false,
    })
}

/// One resource of a targeted sync, with its parent if it names one.
fn target(resource: &pb::Resource) -> Result<Target> {
    let pair = |id: &pb::ResourceId| (id.resource_type.clone(), id.resource.clone());
    let id = resource.id.as_ref().filter(|id| !id.resource_type.is_empty() && !id.resource.is_empty());
    let id = id.ok_or_else(|| anyhow!("a targeted resource of the task has no id: the task cannot be run"))?;
    Ok(Target { id: pair(id), parent: resource.parent_resource_id.as_ref().filter(|p| !p.resource.is_empty()).map(pair) })
}

/// Syncs into a temporary file, uploads it, and removes it (also when cancelled: the
/// directory goes with the future).
async fn sync_full(cx: &TaskContext<'_>, task_id: &str, task: task::SyncFullTask, capture: Option<&debug_log::Capture>) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("baton-sdk-sync-upload").tempdir().context("cannot create a temporary directory for the sync")?;
    let file = dir.path().join("sync.c1z");
    let context = cx.connector.sync_context();
    let report = cx.connector.sync(&context, &file, &sync_options(&task)?, &sync::Quiet).await?;
    tracing::info!(task_id, resources = report.summary.resources, grants = report.summary.grants, bytes = report.summary.file_bytes, "synced; uploading");
    upload::upload(cx.client, task_id, &file).await?;
    if let Some(capture) = capture {
        let log = dir.path().join("debug.log");
        std::fs::write(&log, capture.text(&crate::secrets::held())).context("cannot write the task's debug log")?;
        upload::upload(cx.client, task_id, &log).await.context("uploading the task's debug log failed")?;
    }
    Ok(())
}

fn required<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| anyhow!("the task has no {what}: it cannot be run"))
}

async fn grant_task(cx: &TaskContext<'_>, task: task::GrantTask) -> Result<(prost_types::Any, Vec<prost_types::Any>)> {
    let entitlement = required(task.entitlement, "entitlement")?;
    let principal = required(task.principal, "principal")?;
    let principal_id = required(principal.id.clone(), "principal id")?;
    if entitlement.resource.as_ref().and_then(|r| r.id.as_ref()).is_none() {
        bail!("the task's entitlement {} has no resource: it cannot be run", entitlement.id);
    }
    let prepared = Prepared::Grant { entitlement: entitlement.clone(), principal: principal.clone(), principal_type: principal_id.resource_type.clone() };
    let outcome = cx.connector.change(&prepared).await?;
    tracing::info!("{}", provision::describe(&prepared, &outcome));
    // The grants as the component names them, on the task's own entitlement and principal.
    let (made, annotations) = match outcome {
        Outcome::Granted(grants) => (grants, Vec::new()),
        Outcome::AlreadyGranted(grants) => (grants, vec![any(&pb::GrantAlreadyExists {})]),
        other => bail!("the grant ended as {other:?}"),
    };
    let on = entitlement.resource.clone().unwrap_or_default();
    let grants =
        made.iter().map(|made| pb::Grant { entitlement: Some(entitlement.clone()), principal: Some(principal.clone()), ..convert::grant(made, &on) }).collect();
    let response = pb::GrantManagerServiceGrantResponse { annotations: annotations.clone(), grants };
    Ok((any(&response), annotations))
}

async fn revoke_task(cx: &TaskContext<'_>, task: task::RevokeTask) -> Result<(prost_types::Any, Vec<prost_types::Any>)> {
    let grant = required(task.grant, "grant")?;
    if grant.entitlement.is_none() || grant.principal.is_none() {
        bail!("the task's grant {} has no entitlement or principal: it cannot be run", grant.id);
    }
    let prepared = Prepared::Revoke { grant };
    let outcome = cx.connector.change(&prepared).await?;
    tracing::info!("{}", provision::describe(&prepared, &outcome));
    let annotations = match outcome {
        Outcome::AlreadyRevoked => vec![any(&pb::GrantAlreadyRevoked {})],
        _ => Vec::new(),
    };
    Ok((any(&pb::GrantManagerServiceRevokeResponse { annotations: annotations.clone() }), annotations))
}

async fn create_account_task(cx: &TaskContext<'_>, task: task::CreateAccountTask) -> Result<(prost_types::Any, Vec<prost_types::Any>)> {
    let info = required(task.account_info, "account info")?;
    let resource_type_id = if task.resource_type_id.is_empty() { provision::account_type(cx.types)? } else { task.resource_type_id.clone() };
    let prepared = Prepared::CreateAccount { account: account_info(&info, &resource_type_id)? };
    let outcome = cx.connector.change(&prepared).await?;
    tracing::info!("{}", provision::describe(&prepared, &outcome));
    use pb::create_account_response::{AlreadyExistsResult, Result as Created, SuccessResult};
    let result = match outcome {
        Outcome::Created(user) => {
            Created::Success(SuccessResult { resource: Some(convert::resource(&user)), is_create_account_result: true, invitation_expires_at: None })
        }
        Outcome::AlreadyExists(user) => {
            Created::AlreadyExists(AlreadyExistsResult { resource: user.as_ref().map(convert::resource), is_create_account_result: true })
        }
        other => bail!("create-account ended as {other:?}"),
    };
    Ok((any(&pb::CreateAccountResponse { result: Some(result), ..Default::default() }), Vec::new()))
}

/// The contract's account from baton's `AccountInfo` (login, emails, the profile's scalar fields).
fn account_info(info: &pb::AccountInfo, resource_type_id: &str) -> Result<wit::AccountInfo> {
    if info.login.trim().is_empty() {
        bail!("the account to create has no login");
    }
    Ok(wit::AccountInfo {
        login: info.login.clone(),
        emails: info.emails.iter().map(|e| wit::Email { address: e.address.clone(), is_primary: e.is_primary }).collect(),
        profile: convert::wit_profile(info.profile.as_ref()),
        resource_type_id: resource_type_id.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A task as a newer C1 sends it: an id and a `task_type` case (field 150) this build lacks.
    fn future_task_bytes(id: &str) -> Vec<u8> {
        let mut bytes = Task { id: id.into(), ..Default::default() }.encode_to_vec();
        // Field 150, length-delimited (an empty message): key varint 0xB2 0x09, length 0.
        bytes.extend_from_slice(&[0xB2, 0x09, 0x00]);
        bytes
    }

    #[test]
    fn a_task_of_an_unknown_type_is_a_task() {
        let task = Task::decode(future_task_bytes("task00000000000000000000001").as_slice()).unwrap();
        assert!(task.task_type.is_none(), "prost drops the unknown case");
        assert!(!is_no_task(&task));
        assert_eq!(kind_name(task.task_type.as_ref()), "unknown");
    }

    #[test]
    fn none_and_empty_answers_are_no_task() {
        assert!(is_no_task(&Task::default()));
        let none = Task { id: "task00000000000000000000002".into(), task_type: Some(TaskType::None(task::NoneTask::default())), ..Default::default() };
        assert!(is_no_task(&none));
        let hello = Task { task_type: Some(TaskType::Hello(task::HelloTask::default())), ..Default::default() };
        assert!(!is_no_task(&hello));
    }

    #[test]
    fn unsupported_is_retryable_with_baton_words() {
        let request = finish_request("host", "task00000000000000000000003", unsupported());
        let status = request.status.unwrap();
        assert_eq!(status.message, "unsupported task type");
        assert_eq!(status.code, tonic::Code::Unknown as i32);
        assert!(matches!(request.final_state, Some(FinalState::Error(TaskError { non_retryable: false, .. }))));
    }
}
