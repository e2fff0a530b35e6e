//! The fake's `BatonService`: every RPC needs `authorization: Bearer <token>` with a live
//! token we issued; Hello, Heartbeat and FinishTask are recorded and answered; GetTask hands
//! out the scripted tasks in order; UploadAsset checks and records the stream.

use std::sync::Arc;

use baton_c1api::pb::baton_service_server::BatonService;
use baton_c1api::pb::{
    BatonServiceFinishTaskRequest, BatonServiceFinishTaskResponse, BatonServiceGetTaskRequest, BatonServiceGetTaskResponse, BatonServiceHeartbeatRequest,
    BatonServiceHeartbeatResponse, BatonServiceHelloRequest, BatonServiceHelloResponse, BatonServiceUploadAssetRequest, BatonServiceUploadAssetResponse,
};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::checks;
use super::records::{RpcCall, UnauthenticatedCall, UploadRecord};
use super::state::FakeState;
use super::upload::{self, UploadError};

pub struct FakeBatonService {
    pub state: Arc<FakeState>,
}

#[tonic::async_trait]
impl BatonService for FakeBatonService {
    async fn hello(&self, request: Request<BatonServiceHelloRequest>) -> Result<Response<BatonServiceHelloResponse>, Status> {
        let token = self.authorize("Hello", request.metadata())?;
        let request = request.into_inner();
        let verdict = checks::hello(&request);
        self.state.with_logs(|logs| logs.hellos.push(call(token, request, &verdict)));
        verdict.map_err(Status::invalid_argument)?;
        Ok(Response::new(BatonServiceHelloResponse::default()))
    }

    async fn get_task(&self, request: Request<BatonServiceGetTaskRequest>) -> Result<Response<BatonServiceGetTaskResponse>, Status> {
        let token = self.authorize("GetTask", request.metadata())?;
        let request = request.into_inner();
        let verdict = checks::host_id(&request.host_id);
        self.state.with_logs(|logs| logs.polls.push(call(token, request, &verdict)));
        verdict.map_err(Status::invalid_argument)?;
        if !self.state.poll_delay.is_zero() {
            tokio::time::sleep(self.state.poll_delay).await;
        }
        Ok(Response::new(BatonServiceGetTaskResponse {
            task: self.state.next_task(),
            next_poll: Some(proto_duration(self.state.next_poll)),
            next_heartbeat: Some(proto_duration(self.state.next_heartbeat)),
            annotations: Vec::new(),
        }))
    }

    async fn heartbeat(&self, request: Request<BatonServiceHeartbeatRequest>) -> Result<Response<BatonServiceHeartbeatResponse>, Status> {
        let token = self.authorize("Heartbeat", request.metadata())?;
        let request = request.into_inner();
        let verdict = checks::host_id(&request.host_id);
        let response = self.heartbeat_response(&request);
        self.state.with_logs(|logs| logs.heartbeats.push(call(token, request, &verdict)));
        verdict.map_err(Status::invalid_argument)?;
        Ok(Response::new(response))
    }

    async fn finish_task(&self, request: Request<BatonServiceFinishTaskRequest>) -> Result<Response<BatonServiceFinishTaskResponse>, Status> {
        let token = self.authorize("FinishTask", request.metadata())?;
        let request = request.into_inner();
        let verdict = checks::finish_task(&request);
        self.state.with_logs(|logs| logs.finished.push(call(token, request, &verdict)));
        verdict.map_err(Status::invalid_argument)?;
        Ok(Response::new(BatonServiceFinishTaskResponse::default()))
    }

    async fn upload_asset(&self, request: Request<Streaming<BatonServiceUploadAssetRequest>>) -> Result<Response<BatonServiceUploadAssetResponse>, Status> {
        let token = self.authorize("UploadAsset", request.metadata())?;
        let mut stream = request.into_inner();
        let mut record = UploadRecord { token, ..UploadRecord::default() };
        let outcome = self.receive_upload(&mut stream, &mut record).await;
        record.rejection = outcome.as_ref().err().map(|status| status.message().to_string());
        self.state.with_logs(|logs| logs.uploads.push(record));
        outcome.map(|()| Response::new(BatonServiceUploadAssetResponse::default()))
    }
}

impl FakeBatonService {
    /// The access token of a call, or `UNAUTHENTICATED` (recorded) when it has no live one.
    fn authorize(&self, method: &'static str, metadata: &MetadataMap) -> Result<String, Status> {
        let checked = bearer_token(metadata).and_then(|token| {
            self.state.check_token(&token)?;
            Ok(token)
        });
        checked.map_err(|reason| {
            self.state.with_logs(|logs| logs.unauthenticated.push(UnauthenticatedCall { method, reason: reason.to_string() }));
            Status::unauthenticated(reason)
        })
    }

    fn heartbeat_response(&self, request: &BatonServiceHeartbeatRequest) -> BatonServiceHeartbeatResponse {
        let cancelled_task_ids = request.task_ids.iter().filter(|id| self.state.is_cancelled(id)).cloned().collect();
        BatonServiceHeartbeatResponse {
            next_heartbeat: Some(proto_duration(self.state.next_heartbeat)),
            cancelled: self.state.is_cancelled(&request.task_id),
            annotations: Vec::new(),
            cancelled_task_ids,
        }
    }

    async fn receive_upload(&self, stream: &mut Streaming<BatonServiceUploadAssetRequest>, record: &mut UploadRecord) -> Result<(), Status> {
        match upload::receive(stream, record).await {
            Err(UploadError::Violation(reason)) => Err(Status::invalid_argument(reason)),
            Err(UploadError::Stream(status)) => Err(status),
            Ok(()) if self.state.take_upload_failure() => Err(Status::unavailable("injected upload failure")),
            Ok(()) => Ok(()),
        }
    }
}

/// `authorization: Bearer <token>` → the token.
fn bearer_token(metadata: &MetadataMap) -> Result<String, &'static str> {
    let value = metadata.get("authorization").ok_or("no authorization metadata")?.to_str().map_err(|_| "authorization metadata is not text")?;
    match value.strip_prefix("Bearer ") {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err("authorization metadata is not \"Bearer <token>\""),
    }
}

fn call<T>(token: String, request: T, verdict: &Result<(), String>) -> RpcCall<T> {
    RpcCall { token, request, rejection: verdict.as_ref().err().cloned() }
}

fn proto_duration(duration: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(duration).unwrap_or_default()
}
