//! What a component writes to the host's log through the `log` import: control characters
//! escaped (a `\n` in a message would start a line that reads as the host's own, or another
//! tenant's), each message and field cut to a bounded size, at most [`MAX_FIELDS`] fields, and
//! at most [`BURST`] records at once then [`PER_SECOND`] a second per instance; what is over is
//! dropped and counted in one notice.

use std::time::Instant;

/// The longest message kept, in characters.
pub const MAX_MESSAGE: usize = 1024;
/// The longest field name or value kept, in characters.
pub const MAX_FIELD: usize = 512;
/// The most fields one record keeps.
pub const MAX_FIELDS: usize = 32;
/// Records one instance may write at once.
pub const BURST: f64 = 200.0;
/// Records one instance may write a second after that.
pub const PER_SECOND: f64 = 50.0;

/// `text` with every control character (and the Unicode line and paragraph separators) written
/// as an escape, cut to `max` characters (`…` marks a cut).
pub fn escaped(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 2));
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A record as it may reach the log: message and `key=value` fields, escaped and capped.
pub fn record(message: &str, fields: &[(String, String)]) -> (String, String) {
    let mut shown: Vec<String> = fields.iter().take(MAX_FIELDS).map(|(k, v)| format!("{}={}", escaped(k, MAX_FIELD), escaped(v, MAX_FIELD))).collect();
    if fields.len() > MAX_FIELDS {
        shown.push(format!("(+{} fields)", fields.len() - MAX_FIELDS));
    }
    (escaped(message, MAX_MESSAGE), shown.join(" "))
}

/// One instance's allowance of log records: a token bucket.
#[derive(Debug)]
pub struct LogBudget {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> LogBudget {
        LogBudget { tokens: BURST, last: Instant::now(), dropped: 0 }
    }
}

impl LogBudget {
    /// Whether one more record may be written now; a refused one is counted.
    pub fn admit(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * PER_SECOND).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// How many records were dropped since the last time this was asked.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(escaped("sync\n2026-01-01 INFO baton_sync: sync finished", 100), "sync\\n2026-01-01 INFO baton_sync: sync finished");
        assert_eq!(escaped("a\r\tb\u{1b}[31m\u{2028}c", 100), "a\\r\\tb\\u{1b}[31m\\u{2028}c");
        assert_eq!(escaped("ünïcödé \"quoted\"", 100), "ünïcödé \"quoted\"", "printable text is kept as it is");
        assert_eq!(escaped(&"x".repeat(10), 4), "xxxx…");
        let fields: Vec<(String, String)> = (0..40).map(|i| (format!("k{i}"), "v\nw".to_string())).collect();
        let (message, shown) = record(&"m".repeat(5000), &fields);
        assert_eq!(message.chars().count(), MAX_MESSAGE + 1);
        assert!(shown.starts_with("k0=v\\nw k1=v\\nw") && shown.ends_with("(+8 fields)"), "{shown}");
    }

    #[test]
    fn a_flood_is_held_to_the_burst_and_the_rest_is_counted() {
        let mut budget = LogBudget::default();
        let admitted = (0..10_000).filter(|_| budget.admit()).count();
        assert!((BURST as usize..BURST as usize + 20).contains(&admitted), "{admitted}");
        assert_eq!(budget.take_dropped() as usize, 10_000 - admitted);
        assert_eq!(budget.take_dropped(), 0);
    }
}
