//! The `BatonService` calls, each with a valid token in its `authorization` metadata. A call
//! refused as unauthenticated gets one more try with a fresh token (the cached one may have
//! been revoked or expired early).

use super::connection::C1Address;
use super::credentials::{ClientId, ClientSecret};
use super::token::TokenSource;
use anyhow::{Context, Result};
use baton_c1api::pb::{self, baton_service_client::BatonServiceClient};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// A client of ConductorOne for one connector host.
pub struct C1Client {
    grpc: BatonServiceClient<Channel>,
    tokens: TokenSource,
    host_id: String,
}

/// A failed call: the gRPC status, or a failure to get a token.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("ConductorOne answered {}: {}", .0.code(), .0.message())]
    Status(Status),
    #[error("{0:#}")]
    Token(anyhow::Error),
}

impl CallError {
    /// The gRPC code (Unauthenticated for a token failure).
    pub fn code(&self) -> Code {
        match self {
            CallError::Status(status) => status.code(),
            CallError::Token(_) => Code::Unauthenticated,
        }
    }
}

impl C1Client {
    /// A client for `address` with these credentials.
    pub fn new(address: &C1Address, client_id: ClientId, secret: ClientSecret, host_id: String) -> Result<C1Client> {
        let grpc = BatonServiceClient::new(address.grpc_channel().context("cannot set up the connection to ConductorOne")?);
        let tokens = TokenSource::new(address, client_id, secret)?;
        Ok(C1Client { grpc, tokens, host_id })
    }

    /// The `host_id` every request carries.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// A token now, so that bad credentials fail before anything else is tried.
    pub async fn check_credentials(&self) -> Result<()> {
        self.tokens.authorization().await.map(drop)
    }

    async fn authorized<T>(&self, message: T) -> Result<Request<T>, CallError> {
        let value = self.tokens.authorization().await.map_err(CallError::Token)?;
        let mut request = Request::new(message);
        let header = value.parse().map_err(|_| CallError::Token(anyhow::anyhow!("ConductorOne issued a token that cannot be sent as metadata")))?;
        request.metadata_mut().insert("authorization", header);
        Ok(request)
    }

    /// Runs `call` with a token, and once more with a fresh token if it was refused as
    /// unauthenticated.
    async fn with_token<T: Clone, R, F, Fut>(&self, message: T, call: F) -> Result<R, CallError>
    where
        F: Fn(BatonServiceClient<Channel>, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let first = call(self.grpc.clone(), self.authorized(message.clone()).await?).await;
        match first {
            Err(status) if status.code() == Code::Unauthenticated => {
                self.tokens.invalidate().await;
                call(self.grpc.clone(), self.authorized(message).await?).await.map(tonic::Response::into_inner).map_err(CallError::Status)
            }
            other => other.map(tonic::Response::into_inner).map_err(CallError::Status),
        }
    }

    pub async fn hello(&self, request: pb::BatonServiceHelloRequest) -> Result<pb::BatonServiceHelloResponse, CallError> {
        self.with_token(request, |mut c, r| async move { c.hello(r).await }).await
    }

    pub async fn get_task(&self) -> Result<pb::BatonServiceGetTaskResponse, CallError> {
        let request = pb::BatonServiceGetTaskRequest { host_id: self.host_id.clone() };
        self.with_token(request, |mut c, r| async move { c.get_task(r).await }).await
    }

    pub async fn heartbeat(&self, task_id: &str) -> Result<pb::BatonServiceHeartbeatResponse, CallError> {
        let request = pb::BatonServiceHeartbeatRequest { host_id: self.host_id.clone(), task_id: task_id.to_string(), ..Default::default() };
        self.with_token(request, |mut c, r| async move { c.heartbeat(r).await }).await
    }

    pub async fn finish_task(&self, request: pb::BatonServiceFinishTaskRequest) -> Result<pb::BatonServiceFinishTaskResponse, CallError> {
        self.with_token(request, |mut c, r| async move { c.finish_task(r).await }).await
    }

    /// One upload stream (see [`super::upload`] for the attempts around it). A stream cannot
    /// be sent twice, so a refused token is not retried here: the attempt fails, and the next
    /// attempt gets a fresh token.
    pub async fn upload_asset(&self, messages: impl futures_util::Stream<Item = pb::BatonServiceUploadAssetRequest> + Send + 'static) -> Result<(), CallError> {
        let request = self.authorized(messages).await?;
        match self.grpc.clone().upload_asset(request).await {
            Err(status) if status.code() == Code::Unauthenticated => {
                self.tokens.invalidate().await;
                Err(CallError::Status(status))
            }
            other => other.map(drop).map_err(CallError::Status),
        }
    }
}
