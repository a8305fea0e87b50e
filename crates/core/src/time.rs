//! Event timestamps: nanoseconds since the Unix epoch, serialized as RFC 3339.
//!
//! The wire form is `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, always nine
//! fractional digits), which ATOF readers accept and which sorts
//! lexicographically. Formatting is done by hand because it sits on the
//! serialization path of every exported event.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC instant with nanosecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        #[cfg(unix)]
        {
            // Straight from the clock (the vDSO): every event takes one or
            // two timestamps, and `SystemTime` plus `duration_since` cost
            // about twice as much for the same number.
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid out-pointer; CLOCK_REALTIME always
            // exists, so this cannot fail.
            if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
                // `time_t` and `c_long` are 32-bit on some targets.
                #[allow(clippy::unnecessary_cast)]
                return Timestamp(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64);
            }
        }
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(d.as_nanos() as i64),
            Err(e) => Timestamp(-(e.duration().as_nanos() as i64)),
        }
    }

    /// Build from nanoseconds since the epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Build from microseconds since the epoch (the ATOF integer form).
    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros.saturating_mul(1000))
    }

    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (for UUID v7).
    pub const fn unix_millis(self) -> u64 {
        if self.0 < 0 {
            0
        } else {
            (self.0 / 1_000_000) as u64
        }
    }

    /// `now`, but strictly after `start` by at least one microsecond, so an end
    /// event never sorts before (or equal to) its start event.
    ///
    /// Saturating: a start the application gave near the end of time (a
    /// `timestamp_us` of `i64::MAX`) must not overflow (a panic in debug
    /// builds, an end in 1677 in release ones).
    pub fn now_after(start: Timestamp) -> Self {
        let now = Self::now();
        let earliest = start.0.saturating_add(1000);
        if now.0 >= earliest {
            now
        } else {
            Timestamp(earliest)
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
/// Howard Hinnant's well-known `civil_from_days` arithmetic.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// "00" to "99", for formatting two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Length of the wire form.
pub(crate) const RFC3339_LEN: usize = 30;

impl Timestamp {
    /// The wire form, written into a fixed buffer. Always four-digit years:
    /// an `i64` of nanoseconds spans 1677 to 2262. Events are serialized by
    /// the thousand on the dispatcher thread, and this is several times
    /// cheaper than formatting machinery.
    pub(crate) fn rfc3339(self) -> [u8; RFC3339_LEN] {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        debug_assert!((1677..=2262).contains(&y));
        let mut out = *b"0000-00-00T00:00:00.000000000Z";
        // Two digits at a time from a table: the loop that divides by ten
        // per digit was the bulk of serializing an event's timestamp.
        let mut pair = |at: usize, v: u32| {
            let i = (v % 100) as usize * 2;
            out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[i..i + 2]);
        };
        let y = y as u32;
        pair(0, y / 100);
        pair(2, y);
        pair(5, m);
        pair(8, d);
        pair(11, sod / 3600);
        pair(14, (sod / 60) % 60);
        pair(17, sod % 60);
        pair(20, nanos / 10_000_000);
        pair(22, nanos / 100_000);
        pair(24, nanos / 1_000);
        pair(26, nanos / 10);
        out[28] = b'0' + (nanos % 10) as u8;
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ASCII digits and separators by construction.
        f.write_str(std::str::from_utf8(&self.rfc3339()).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_after_a_start_at_the_end_of_time_saturates_instead_of_overflowing() {
        let last = Timestamp(i64::MAX);
        assert_eq!(Timestamp::now_after(last), last);
        let start = Timestamp::now();
        assert!(Timestamp::now_after(start).0 >= start.0 + 1000);
    }

    #[test]
    fn formats_rfc3339_utc_with_nanoseconds() {
        // 2026-03-01T12:34:56.123456789Z
        let t = Timestamp::from_unix_nanos(1_772_368_496_123_456_789);
        assert_eq!(t.to_string(), "2026-03-01T12:34:56.123456789Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            Timestamp::from_unix_micros(951_782_400_000_000).to_string(),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn the_fast_form_matches_general_formatting_across_the_range() {
        let general = |t: Timestamp| {
            let secs = t.0.div_euclid(1_000_000_000);
            let nanos = t.0.rem_euclid(1_000_000_000);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60
            )
        };
        // Every instant an i64 of nanoseconds can hold (1677 to 2262), in
        // steps of ~90 days and odd nanoseconds.
        let step = 7_777_777_777_777_777;
        let mut t = i64::MIN;
        while t < i64::MAX - step {
            let ts = Timestamp(t);
            assert_eq!(ts.to_string(), general(ts));
            t += step;
        }
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn now_reads_the_same_clock_as_system_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let now = Timestamp::now().unix_nanos();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }

    #[test]
    fn end_timestamps_are_strictly_after_their_start() {
        let start = Timestamp::now();
        let far = Timestamp(start.0 + 10_000_000_000);
        assert!(Timestamp::now_after(far) > far);
        assert!(Timestamp::now_after(start) > start);
    }
}
