//! One listener for both protocols: the token route (HTTP/1.1) and the gRPC service (HTTP/2
//! prior knowledge in plain text, or either by ALPN over TLS) in one axum router, served on a background thread with its
//! own tokio runtime until the stop signal.

use std::future::IntoFuture;
use std::sync::Arc;

use baton_c1api::pb::baton_service_server::BatonServiceServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::service::FakeBatonService;
use super::state::FakeState;
use super::token;

/// The token route merged with the gRPC routes.
pub fn router(state: Arc<FakeState>) -> axum::Router {
    let grpc = tonic::service::Routes::new(BatonServiceServer::new(FakeBatonService { state: Arc::clone(&state) })).into_axum_router();
    token::router(state).merge(grpc).layer(axum::middleware::from_fn(super::future::add_future_task_types))
}

/// Serves `listener` (over TLS with `acceptor`, else in plain text) from a new thread until
/// `stopped` fires or its sender is dropped.
pub fn serve_in_background(
    listener: std::net::TcpListener,
    state: Arc<FakeState>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    stopped: oneshot::Receiver<()>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let thread = std::thread::Builder::new().name("fake-c1".into()).spawn(move || runtime.block_on(serve(listener, state, acceptor, stopped)))?;
    Ok(thread)
}

async fn serve(listener: std::net::TcpListener, state: Arc<FakeState>, acceptor: Option<tokio_rustls::TlsAcceptor>, stopped: oneshot::Receiver<()>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "fake-c1: cannot use listener");
            return;
        }
    };
    if let Some(acceptor) = acceptor {
        tokio::select! {
            _ = crate::tls::serve(listener, router(state), acceptor, Default::default()) => {}
            _ = stopped => {}
        }
        return;
    }
    let server = axum::serve(listener, router(state)).into_future();
    tokio::select! {
        result = server => {
            if let Err(error) = result {
                tracing::error!(%error, "fake-c1: server failed");
            }
        }
        _ = stopped => {}
    }
}
