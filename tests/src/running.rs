//! [`Running`]: what keeps one of the test servers (the Confluence simulator, the fake
//! ConductorOne, the directory service) serving until its handle is dropped.

use tokio::sync::oneshot;

/// A server's stop signal and, when it runs on a thread of its own, that thread: dropped, it
/// tells the server to stop and waits for the thread.
pub struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// A server that stops on `shutdown`, on `thread` (none: on the caller's runtime).
    pub fn new(shutdown: oneshot::Sender<()>, thread: Option<std::thread::JoinHandle<()>>) -> Running {
        Running { shutdown: Some(shutdown), thread }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
