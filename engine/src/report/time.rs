//! Wall-clock timestamps for reports and run ids, in UTC, without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in wall-clock time (UTC), to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    millis_since_epoch: i64,
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// A system time as a timestamp.
    pub fn from_system(time: SystemTime) -> Self {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Self {
            millis_since_epoch: millis,
        }
    }

    /// The instant `millis` milliseconds after the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        Self {
            millis_since_epoch: millis,
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.millis_since_epoch
    }

    fn parts(self) -> (i64, u32, u32, i64, i64, i64, i64) {
        let secs = self.millis_since_epoch.div_euclid(1000);
        let millis = self.millis_since_epoch.rem_euclid(1000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400);
        (
            year,
            month,
            day,
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60,
            millis,
        )
    }

    /// RFC 3339 with milliseconds: `2026-11-29T15:46:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// Compact form for run ids: `20261129T154600Z`.
    pub fn compact(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.parts();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let epoch = Timestamp::from_system(UNIX_EPOCH);
        assert_eq!(epoch.to_rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2026-11-29T15:46:00.123Z
        let t = Timestamp::from_system(UNIX_EPOCH + Duration::from_millis(1_795_967_160_123));
        assert_eq!(t.to_rfc3339(), "2026-11-29T15:46:00.123Z");
        assert_eq!(t.compact(), "20261129T154600Z");
        // A leap day.
        let leap = Timestamp::from_system(UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(leap.to_rfc3339(), "2000-02-29T00:00:00.000Z");
    }
}
