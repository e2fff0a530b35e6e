//! A TCP proxy on 127.0.0.1 that a test can cut: every connection through it is dropped at
//! once, and for a while new ones are accepted and closed straight away, as when a load
//! balancer or a network path in front of a server fails. Used to prove that a client
//! reconnects, with backoff, and loses nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy; it stops when dropped.
pub struct CutProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

#[derive(Default)]
struct Shared {
    connections: Mutex<Vec<JoinHandle<()>>>,
    refuse_until: Mutex<Option<Instant>>,
    cuts: Mutex<usize>,
}

impl CutProxy {
    /// Forwards every connection to `target`, from its own runtime thread.
    pub fn start(target: SocketAddr) -> anyhow::Result<CutProxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = runtime.block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        runtime.spawn(accept(listener, target, Arc::clone(&shared)));
        Ok(CutProxy { address, shared, runtime: Some(runtime) })
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Drops every open connection, and refuses new ones for `refuse_for`.
    pub fn cut(&self, refuse_for: Duration) {
        *self.shared.refuse_until.lock().unwrap() = Some(Instant::now() + refuse_for);
        let open = std::mem::take(&mut *self.shared.connections.lock().unwrap());
        for connection in open {
            connection.abort();
        }
        *self.shared.cuts.lock().unwrap() += 1;
    }

    /// Connections currently open through the proxy.
    pub fn open_connections(&self) -> usize {
        let mut connections = self.shared.connections.lock().unwrap();
        connections.retain(|c| !c.is_finished());
        connections.len()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        let refusing = shared.refuse_until.lock().unwrap().is_some_and(|until| Instant::now() < until);
        if refusing {
            drop(inbound);
            continue;
        }
        let connection = tokio::spawn(pipe(inbound, target));
        shared.connections.lock().unwrap().push(connection);
    }
}

async fn pipe(mut inbound: TcpStream, target: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
