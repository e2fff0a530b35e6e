//! The log of a task ConductorOne asked to debug (`task.debug`): every event inside the task,
//! at debug level whatever `--log-level` says, kept in memory up to [`MAX_BYTES`], with the
//! secrets this process holds redacted, for upload beside the sync as baton-sdk does (a second
//! asset of the same task, `debug.log`).
//!
//! [`layer`] is installed once with the process's logging; it costs one atomic load per
//! debug-level event while no capture is active. A [`Capture`] opens the task's span and
//! collects what happens inside it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The most a task's debug log holds; later events are counted, not kept.
pub const MAX_BYTES: usize = 4 << 20;
/// What replaces a secret in the uploaded log.
const REDACTED: &str = "[redacted]";

/// Captures open now (the layer does nothing while there are none).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The buffer of each capturing span, by span id.
static CAPTURES: Mutex<Option<HashMap<u64, Arc<Mutex<Buffer>>>>> = Mutex::new(None);

#[derive(Debug)]
struct Buffer {
    started: Instant,
    text: String,
    dropped: usize,
}

/// The layer that feeds captures: debug level and above, without the runtime's own noise.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    CaptureLayer.with_filter(filter_fn(|meta| {
        ACTIVE.load(Ordering::Relaxed) > 0 && *meta.level() <= Level::DEBUG && !meta.target().starts_with("wasmtime") && !meta.target().starts_with("cranelift")
    }))
}

struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else { return };
        let buffer = {
            let Ok(captures) = CAPTURES.lock() else { return };
            let Some(captures) = captures.as_ref() else { return };
            scope.into_iter().find_map(|span| captures.get(&span.id().into_u64()).cloned())
        };
        if let Some(buffer) = buffer
            && let Ok(mut buffer) = buffer.lock()
        {
            let line = format_event(event, buffer.started);
            if buffer.text.len() + line.len() <= MAX_BYTES {
                buffer.text.push_str(&line);
            } else {
                buffer.dropped += 1;
            }
        }
    }
}

/// `+1.234s LEVEL target: message key=value ...`
fn format_event(event: &Event<'_>, started: Instant) -> String {
    struct Fields(String, String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.0, "{value:?}");
            } else {
                let _ = write!(self.1, " {}={value:?}", field.name());
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0.push_str(value);
            } else {
                let _ = write!(self.1, " {}={value:?}", field.name());
            }
        }
    }
    let mut fields = Fields(String::new(), String::new());
    event.record(&mut fields);
    let meta = event.metadata();
    format!("+{:.3}s {} {}: {}{}\n", started.elapsed().as_secs_f64(), meta.level(), meta.target(), fields.0, fields.1)
}

/// The debug log of one task, open while it lives.
pub struct Capture {
    span: tracing::Span,
    id: Option<u64>,
    buffer: Arc<Mutex<Buffer>>,
}

impl Capture {
    /// Opens the span of task `task_id` and starts collecting its events.
    pub fn start(task_id: &str) -> Capture {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        let span = tracing::error_span!("debug_task", task_id = %task_id);
        let buffer = Arc::new(Mutex::new(Buffer { started: Instant::now(), text: String::new(), dropped: 0 }));
        let id = span.id().map(|id| id.into_u64());
        if let (Some(id), Ok(mut captures)) = (id, CAPTURES.lock()) {
            captures.get_or_insert_with(HashMap::new).insert(id, buffer.clone());
        }
        Capture { span, id, buffer }
    }

    /// The span to run the task in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// What was collected so far, with every value in `secrets` replaced.
    pub fn text(&self, secrets: &[String]) -> String {
        let Ok(buffer) = self.buffer.lock() else { return String::new() };
        let mut text = redact(&buffer.text, secrets);
        if buffer.dropped > 0 {
            text.push_str(&format!("[{} more events not kept: the debug log is capped at {} MiB]\n", buffer.dropped, MAX_BYTES >> 20));
        }
        text
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let (Some(id), Ok(mut captures)) = (self.id, CAPTURES.lock())
            && let Some(captures) = captures.as_mut()
        {
            captures.remove(&id);
        }
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `text` with each secret, in every form formatting gives it ([`crate::secrets::forms`]),
/// replaced (longest first, so one that contains another goes whole).
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut forms: Vec<String> = secrets.iter().filter(|s| s.len() >= 4).flat_map(|s| crate::secrets::forms(s)).collect();
    forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
    forms.dedup();
    forms.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), REDACTED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn captures_the_tasks_events_at_debug_and_redacts_secrets() {
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("before any capture");
            let capture = Capture::start("task1");
            capture.span().in_scope(|| {
                tracing::debug!(user = "ada", "looked up with token s3cr3t-token");
                tracing::trace!("too fine");
            });
            tracing::info!("outside the task's span");
            let text = capture.text(&["s3cr3t-token".into()]);
            assert!(text.contains("DEBUG"), "{text}");
            assert!(text.contains("looked up with token [redacted]") && text.contains("user=\"ada\""), "{text}");
            assert!(!text.contains("s3cr3t") && !text.contains("too fine") && !text.contains("outside") && !text.contains("before"), "{text}");
        });
    }

    #[test]
    fn escaped_forms_of_a_secret_are_redacted_too() {
        let secret = "canary\"quote\\slash".to_string();
        let text = format!("as given {secret}; debug {secret:?}; json {}", serde_json::to_string(&secret).unwrap());
        let redacted = redact(&text, std::slice::from_ref(&secret));
        assert!(!redacted.contains("quote"), "{redacted}");
        assert_eq!(redacted.matches(REDACTED).count(), 3, "{redacted}");
    }

    #[test]
    fn longer_secrets_are_redacted_whole() {
        assert_eq!(redact("a abcdef b abcd", &["abcd".into(), "abcdef".into()]), "a [redacted] b [redacted]");
        assert_eq!(redact("short ab", &["ab".into()]), "short ab", "too short to be a secret");
    }
}
