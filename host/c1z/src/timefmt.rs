//! Timestamps in the text form the Go SDK stores in `datetime` columns:
//! local wall-clock time, `%Y-%m-%d %H:%M:%S`, then `.` and the nanoseconds
//! with trailing zeros trimmed (no fraction at all when it is zero); see
//! docs/c1z-and-c1.md §2.6 for why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A broken-down wall-clock time (no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// The current local time in the SDK's text format.
pub(crate) fn now_text() -> String {
    format_local(SystemTime::now())
}

/// `time` as local wall-clock text; falls back to UTC when the local zone is unknown.
pub(crate) fn format_local(time: SystemTime) -> String {
    let (secs, nanos) = unix_parts(time);
    let civil = local_civil(secs).unwrap_or_else(|| utc_civil(secs));
    format_civil(civil, nanos)
}

/// Seconds and nanoseconds since the Unix epoch (negative seconds before it).
fn unix_parts(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (saturating_secs(after), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let secs = -saturating_secs(before);
            match before.subsec_nanos() {
                0 => (secs, 0),
                n => (secs - 1, 1_000_000_000 - n),
            }
        }
    }
}

fn saturating_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn format_civil(c: Civil, nanos: u32) -> String {
    let mut text = format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second);
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text
}

/// Converts Unix seconds to a UTC civil time (proleptic Gregorian calendar).
fn utc_civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    // Days-to-civil algorithm with eras of 400 years starting on March 1st.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month: month as u32,
        day: day as u32,
        hour: (second_of_day / 3_600) as u32,
        minute: (second_of_day % 3_600 / 60) as u32,
        second: (second_of_day % 60) as u32,
    }
}

/// Converts Unix seconds to local civil time with the C library's zone rules.
#[cfg(unix)]
fn local_civil(secs: i64) -> Option<Civil> {
    let time = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain old data, so all-zero is a valid value, and
    // localtime_r only writes into the buffer we pass; it is thread-safe.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::localtime_r(&time, &mut tm) };
    if result.is_null() {
        return None;
    }
    Some(Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: u32::try_from(tm.tm_mon + 1).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        // A leap second (60) is folded into 59 so the text stays parseable.
        second: u32::try_from(tm.tm_sec.min(59)).ok()?,
    })
}

#[cfg(not(unix))]
fn local_civil(_secs: i64) -> Option<Civil> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_civil_known_dates() {
        assert_eq!(format_civil(utc_civil(0), 0), "1970-01-01 00:00:00");
        assert_eq!(format_civil(utc_civil(951_782_400), 0), "2000-02-29 00:00:00");
        assert_eq!(format_civil(utc_civil(1_787_324_645), 0), "2026-08-21 15:04:05");
        assert_eq!(format_civil(utc_civil(-1), 0), "1969-12-31 23:59:59");
    }

    #[test]
    fn fraction_trims_trailing_zeros() {
        let base = utc_civil(1_787_324_645);
        assert_eq!(format_civil(base, 123_456_789), "2026-08-21 15:04:05.123456789");
        assert_eq!(format_civil(base, 120_000_000), "2026-08-21 15:04:05.12");
        assert_eq!(format_civil(base, 0), "2026-08-21 15:04:05");
    }

    #[test]
    fn before_epoch_nanos_borrow_a_second() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(unix_parts(t), (-2, 500_000_000));
    }
}
