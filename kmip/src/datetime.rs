//! The KMIP Date-Time value (KMIP 1.4 §9.1.1.4, 2.1 §9.1.1.4).

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with one-second resolution: signed seconds since the Unix epoch, as KMIP
/// carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateTime(pub i64);

impl DateTime {
    /// The current time, truncated to the second. A clock set before 1970 reads as negative
    /// seconds, as the Date-Time type allows.
    #[must_use]
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }
}

impl From<SystemTime> for DateTime {
    fn from(time: SystemTime) -> Self {
        let seconds = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        Self(seconds)
    }
}
