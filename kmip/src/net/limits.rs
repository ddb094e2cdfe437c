//! Every bound the transport enforces, as configuration with sensible defaults. Durations are
//! humantime strings so a value says its unit; zero is refused, because a zero timeout would
//! fail every connection; unknown keys are refused, so a misspelt limit does not silently keep
//! its default.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::decode::Limits;

// Checked at compile time: a constant that fails here fails the build.
const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(1024).expect("not zero");
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: NonZeroUsize = NonZeroUsize::new(256).expect("not zero");
const DEFAULT_MAX_HANDSHAKES: NonZeroUsize = NonZeroUsize::new(256).expect("not zero");
const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: NonZeroUsize = NonZeroUsize::new(32).expect("not zero");
const DEFAULT_POOL_SIZE: NonZeroUsize = NonZeroUsize::new(8).expect("not zero");

/// The bounds a KMIP server puts on its clients.
///
/// In configuration files durations are humantime strings (`"30s"`, `"500ms"`, `"5m"`, never
/// zero), the codec bounds a `codec` table, and unknown keys are refused:
///
/// ```toml
/// max_connections = 1024
/// max_handshakes = 256
/// idle_timeout = "5m"
/// read_timeout = "30s"
/// [codec]
/// max_message_len = 1048576
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerLimits {
    /// The most authenticated connections served at once; the excess is closed at once.
    /// Default: 1024.
    pub max_connections: NonZeroUsize,
    /// The most authenticated connections from one IP address. Default: 256.
    pub max_connections_per_address: NonZeroUsize,
    /// The most connections still in their TLS handshake (or refused for their identity and
    /// waiting to be told). A newcomer beyond it waits for a place, and the oldest is dropped
    /// to make room once it has been there a second (at once when as many as
    /// `max_connections` wait): a burst of clients is served whole, and a client that
    /// completes its handshake in time is served whatever a flood of silent connections does.
    /// Default: 256.
    pub max_handshakes: NonZeroUsize,
    /// As `max_handshakes`, for the connections from one IP address. Default: 32.
    pub max_handshakes_per_address: NonZeroUsize,
    /// The longest a TLS handshake may take. Default: 5 s.
    #[serde(with = "humantime_duration")]
    pub handshake_timeout: Duration,
    /// The longest a connection may sit between messages before it is closed. Default: 300 s.
    #[serde(with = "humantime_duration")]
    pub idle_timeout: Duration,
    /// The longest a message may take to arrive, from its first byte to its last; a message
    /// that stalls is dropped with its connection. Default: 30 s.
    #[serde(with = "humantime_duration")]
    pub read_timeout: Duration,
    /// The longest writing a response may take; a client that does not read its responses is
    /// dropped. Default: 30 s.
    #[serde(with = "humantime_duration")]
    pub write_timeout: Duration,
    /// After shutdown is requested, how long requests in flight may take to finish before their
    /// connections are cut. Default: 30 s.
    #[serde(with = "humantime_duration")]
    pub shutdown_grace: Duration,
    /// The largest and deepest request accepted. Default: 1 MiB, 32 levels.
    #[serde(with = "CodecLimits")]
    pub codec: Limits,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            max_handshakes_per_address: DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            codec: Limits::default(),
        }
    }
}

/// The bounds a KMIP client puts on its server. Configured like [`ServerLimits`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientLimits {
    /// The longest connecting may take: name resolution, TCP connect and TLS handshake
    /// together. Default: 5 s.
    #[serde(with = "humantime_duration")]
    pub connect_timeout: Duration,
    /// The longest one request may take, from its first byte written to the response's last
    /// byte read. A [`Pool`](crate::net::Pool) also waits at most this long for a free
    /// connection. Default: 30 s.
    #[serde(with = "humantime_duration")]
    pub request_timeout: Duration,
    /// The most connections a [`Pool`](crate::net::Pool) keeps open at once. Default: 8.
    pub pool_size: NonZeroUsize,
    /// The largest and deepest response accepted. Default: 1 MiB, 32 levels.
    #[serde(with = "CodecLimits")]
    pub codec: Limits,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            pool_size: DEFAULT_POOL_SIZE,
            codec: Limits::default(),
        }
    }
}

/// The configuration form of the codec's [`Limits`], which the codec itself keeps free of serde.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Limits", deny_unknown_fields)]
struct CodecLimits {
    #[serde(default = "default_max_message_len")]
    max_message_len: usize,
    #[serde(default = "default_max_depth")]
    max_depth: usize,
}

fn default_max_message_len() -> usize {
    Limits::default().max_message_len
}

fn default_max_depth() -> usize {
    Limits::default().max_depth
}

/// A [`Duration`] as a humantime string, zero refused: for `#[serde(with = ...)]` in the
/// configuration of other parts too, so every duration in a file reads the same way.
pub mod humantime_duration {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `duration` as a humantime string.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }

    /// Reads a humantime string, refusing zero.
    ///
    /// # Errors
    ///
    /// A string that is no duration, or zero.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        let duration = humantime::parse_duration(&text).map_err(D::Error::custom)?;
        if duration.is_zero() {
            return Err(D::Error::custom("a duration must be longer than zero"));
        }
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_defaults() {
        let limits: ServerLimits = toml::from_str("").unwrap();
        assert_eq!(limits, ServerLimits::default());
        assert_eq!(limits.max_connections.get(), 1024);
        assert_eq!(limits.idle_timeout, Duration::from_secs(300));
        let limits: ClientLimits = toml::from_str("").unwrap();
        assert_eq!(limits, ClientLimits::default());
    }

    #[test]
    fn durations_are_humantime_and_codec_limits_a_table() {
        let limits: ServerLimits = toml::from_str(
            "max_connections = 7\nread_timeout = \"1m 30s\"\nidle_timeout = \"250ms\"\n\
             [codec]\nmax_message_len = 4096\n",
        )
        .unwrap();
        assert_eq!(limits.max_connections.get(), 7);
        assert_eq!(limits.read_timeout, Duration::from_secs(90));
        assert_eq!(limits.idle_timeout, Duration::from_millis(250));
        assert_eq!(limits.codec.max_message_len, 4096);
        assert_eq!(limits.codec.max_depth, Limits::default().max_depth);
        assert_eq!(limits.write_timeout, Duration::from_secs(30));
    }

    #[test]
    fn limits_survive_a_round_trip() {
        let limits = ClientLimits {
            request_timeout: Duration::from_millis(1500),
            ..ClientLimits::default()
        };
        let text = toml::to_string(&limits).unwrap();
        assert_eq!(toml::from_str::<ClientLimits>(&text).unwrap(), limits);
    }

    #[test]
    fn zero_unknown_and_unitless_values_are_refused() {
        for bad in [
            "idle_timeout = \"0s\"",
            "max_connections = 0",
            "idle_timout = \"5s\"",
            "read_timeout = 30",
            "read_timeout = \"30\"",
            "[codec]\nmax_size = 5",
        ] {
            assert!(toml::from_str::<ServerLimits>(bad).is_err(), "{bad}");
        }
    }
}
