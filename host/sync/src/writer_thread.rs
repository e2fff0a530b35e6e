//! The writer thread: the `.c1z` being written lives on a thread of its own, fed by a bounded
//! channel, so converting rows to protobuf and SQLite's writes run beside the component
//! instances instead of between their calls. Work runs in the order it is sent, so a query sees
//! every write sent before it and a checkpoint covers exactly the rows sent before it. The first
//! failure stops the thread; the next call made after it returns that failure. Dropping the
//! handle without [`WriterThread::finish`] abandons the file as an error does (the writer's own
//! drop keeps a resumable checkpoint or removes scratch files).

use anyhow::{Result, anyhow};
use baton_c1z::{C1zWriter, Summary, WriteError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Work for the writer; it runs on the writer thread with the file.
type Job = Box<dyn FnOnce(&mut C1zWriter) -> Result<()> + Send>;

enum Command {
    Run(Job),
    Finish(oneshot::Sender<Result<Summary>>),
}

/// Commands that may wait in the channel. A command is one page of resources or one
/// resource's entitlements and grants, so this lets the instances run ahead of a slow commit
/// without holding much: memory stays bounded however large the site.
const QUEUED_COMMANDS: usize = 64;

/// The handle the sync engine writes through.
pub(crate) struct WriterThread {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<Result<()>>>,
    /// Set when the handle is dropped unfinished: queued work is skipped, not run.
    abandoned: Arc<AtomicBool>,
}

/// A query sent to the writer whose answer is awaited later (see [`WriterThread::answer`]).
pub(crate) struct Pending<T>(oneshot::Receiver<Result<T>>);

impl WriterThread {
    /// Moves `writer` onto a new thread.
    pub(crate) fn start(writer: C1zWriter) -> Result<WriterThread> {
        let (commands, received) = mpsc::channel(QUEUED_COMMANDS);
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = abandoned.clone();
        let thread = std::thread::Builder::new()
            .name("c1z-writer".into())
            .spawn(move || serve(writer, received, &flag))
            .map_err(|e| anyhow!("cannot start the thread that writes the file: {e}"))?;
        Ok(WriterThread { commands: Some(commands), thread: Some(thread), abandoned })
    }

    /// Queues `job`; waits only while the channel is full.
    pub(crate) async fn write(&mut self, job: impl FnOnce(&mut C1zWriter) -> Result<()> + Send + 'static) -> Result<()> {
        self.send(Command::Run(Box::new(job))).await
    }

    /// Queues `query` and returns at once; [`answer`](Self::answer) waits for its result. Lets
    /// the engine ask for the next batch of resources before it works on the current one.
    pub(crate) async fn ask<T: Send + 'static>(&mut self, query: impl FnOnce(&mut C1zWriter) -> Result<T> + Send + 'static) -> Result<Pending<T>> {
        let (reply, answer) = oneshot::channel();
        self.write(move |writer| {
            let _ = reply.send(query(writer));
            Ok(())
        })
        .await?;
        Ok(Pending(answer))
    }

    /// The result of a query sent with [`ask`](Self::ask).
    pub(crate) async fn answer<T>(&mut self, pending: Pending<T>) -> Result<T> {
        match pending.0.await {
            Ok(result) => result,
            Err(_) => Err(self.failure()),
        }
    }

    /// [`ask`](Self::ask) and [`answer`](Self::answer) at once.
    pub(crate) async fn query<T: Send + 'static>(&mut self, query: impl FnOnce(&mut C1zWriter) -> Result<T> + Send + 'static) -> Result<T> {
        let pending = self.ask(query).await?;
        self.answer(pending).await
    }

    /// Writes everything queued, then the file itself ([`C1zWriter::finish`]).
    pub(crate) async fn finish(mut self) -> Result<Summary> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Finish(reply)).await?;
        let summary = match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.failure()),
        };
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        summary
    }

    async fn send(&mut self, command: Command) -> Result<()> {
        let Some(commands) = &self.commands else { return Err(stopped()) };
        if commands.send(command).await.is_err() {
            return Err(self.failure());
        }
        Ok(())
    }

    /// Why the thread stopped: its error. Called once it has stopped (the channel is closed or
    /// a query went unanswered), so the join does not wait on work.
    fn failure(&mut self) -> anyhow::Error {
        self.commands = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(error))) => error,
            Some(Err(_)) => anyhow!("the thread that writes the file failed unexpectedly"),
            Some(Ok(Ok(()))) | None => stopped(),
        }
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.abandoned.store(true, Ordering::Relaxed);
            self.commands = None;
            let _ = thread.join();
        }
    }
}

fn stopped() -> anyhow::Error {
    anyhow!("the file writer has stopped after an earlier error")
}

/// The writer thread's loop: runs jobs in order until told to finish, abandoned, or failed.
fn serve(mut writer: C1zWriter, mut commands: mpsc::Receiver<Command>, abandoned: &AtomicBool) -> Result<()> {
    while let Some(command) = commands.blocking_recv() {
        if abandoned.load(Ordering::Relaxed) {
            break;
        }
        match command {
            Command::Run(job) => job(&mut writer).map_err(|error| explain_out_of_space(&writer, error))?,
            Command::Finish(reply) => {
                let _ = reply.send(writer.finish().map_err(Into::into));
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A write that failed for want of space, said with the folder and what the sync needs there.
fn explain_out_of_space(writer: &C1zWriter, error: anyhow::Error) -> anyhow::Error {
    match error.downcast::<WriteError>() {
        Ok(write) => writer.explain_out_of_space(write).into(),
        Err(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::pb;

    fn resource_type(id: &str) -> pb::ResourceType {
        pb::ResourceType { id: id.into(), display_name: id.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn queries_see_the_writes_sent_before_them_and_finish_writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.c1z");
        let mut writer = WriterThread::start(C1zWriter::create(&out).unwrap()).unwrap();
        let pending = writer.ask(|w| Ok(w.sync_id().to_owned())).await.unwrap();
        for id in ["user", "group"] {
            writer.write(move |w| Ok(w.put_resource_type(&resource_type(id))?)).await.unwrap();
        }
        let resources = pb::Resource {
            id: Some(pb::ResourceId { resource_type: "user".into(), resource: "alice".into(), ..Default::default() }),
            display_name: "Alice".into(),
            ..Default::default()
        };
        writer.write(move |w| Ok(w.put_resource(&resources)?)).await.unwrap();
        assert_eq!(writer.query(|w| Ok(w.count_resources_of_type("user")?)).await.unwrap(), 1);
        let sync_id = writer.answer(pending).await.unwrap();
        let summary = writer.finish().await.unwrap();
        assert_eq!((summary.resource_types, summary.resources, summary.sync_id), (2, 1, sync_id));
        assert!(out.is_file());
    }

    #[tokio::test]
    async fn the_first_failure_is_what_the_next_call_returns_and_the_old_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.c1z");
        std::fs::write(&out, b"previous").unwrap();
        let mut writer = WriterThread::start(C1zWriter::create(&out).unwrap()).unwrap();
        writer.write(|w| Ok(w.put_resource_type(&resource_type(""))?)).await.unwrap();
        let error = writer.query(|w| Ok(w.count_resources_of_type("user")?)).await.unwrap_err();
        assert!(format!("{error:#}").contains("id is empty"), "{error:#}");
        let again = writer.write(|_| Ok(())).await.unwrap_err();
        assert!(again.to_string().contains("stopped after an earlier error"), "{again}");
        assert!(writer.finish().await.is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"previous");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out.c1z")], "no scratch files are left");
    }
}
