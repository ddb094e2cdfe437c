//! A connection pool to PostgreSQL set up as every Krypton daemon needs one (the gateway's
//! shared vault, the core's store), and the versioned schema each daemon creates and migrates.
//!
//! The URL never carries a password (that comes from a file or a systemd credential); the
//! connection is TLS with the server verified against a configured CA, or plaintext only to a
//! Unix socket or loopback. Every session runs with `synchronous_commit = on`, whatever the
//! server's default, so an acknowledged write is in the server's flushed WAL; and the server
//! ends a statement or an idle transaction past the daemon's request bound, and probes idle
//! clients, so that a daemon that dies mid-change does not hold a row or a lock for long.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use kmip::net::ClientTlsFiles;
use tokio::sync::Notify;
use tokio_postgres::config::{Config as PgConfig, Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{OutOfRange, RelativePath, require_absolute, require_range};
use crate::secret_file::{SecretError, SecretSource};

/// How a daemon reaches its PostgreSQL server: its configuration, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The configuration section these settings come from (`vault`, `store`), for messages.
    pub section: &'static str,
    /// The name the daemon gives its sessions (`application_name`).
    pub application: &'static str,
    /// `postgres://user@host:port/database`, without a password.
    pub url: &'a str,
    /// Where the password is read, if the server asks for one.
    pub password: Option<&'a SecretSource>,
    /// The CA bundle the server's certificate must chain to: given, the connection is TLS.
    pub server_ca: Option<&'a Path>,
    /// The certificate chain and private key the daemon presents, only with `server_ca`.
    pub client_certificate: Option<(&'a Path, &'a Path)>,
    /// How many connections the pool keeps.
    pub pool_size: usize,
    /// The longest wait for a new connection.
    pub connect_timeout: Duration,
    /// The longest one call may take, waiting for a connection included.
    pub request_timeout: Duration,
}

/// The configuration keys of a daemon's database-server settings, as its messages name them.
#[derive(Debug)]
pub struct SettingKeys {
    pub password_file: &'static str,
    pub server_ca: &'static str,
    pub cert_chain: &'static str,
    pub private_key: &'static str,
    pub pool_size: &'static str,
    pub connect_timeout: &'static str,
    pub request_timeout: &'static str,
}

/// Database-server settings that cannot be used. Exhaustive: each daemon maps it onto its own
/// configuration error, variant for variant.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A path is relative.
    #[error(transparent)]
    RelativePath(#[from] RelativePath),
    /// The pool size or a timeout is out of range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// Why a connection pool could not be set up or a schema migrated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The settings cannot be used; the message names the key.
    #[error("{0}")]
    Settings(String),
    /// The password file or credential could not be read.
    #[error("reading the PostgreSQL password")]
    Password(#[source] SecretError),
    /// The TLS files could not be loaded.
    #[error("loading the PostgreSQL TLS files")]
    Tls(#[source] kmip::net::NetError),
    /// The pool could not be built.
    #[error("building the PostgreSQL connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// No connection could be had from the pool.
    #[error("connecting to PostgreSQL")]
    Connect(#[source] deadpool_postgres::PoolError),
    /// The server failed a statement.
    #[error("PostgreSQL failed a statement")]
    Server(#[source] tokio_postgres::Error),
    /// The database holds a schema newer than this daemon knows.
    #[error("the schema is version {found}, newer than this {application}'s {known}: upgrade it")]
    NewerSchema {
        /// The daemon.
        application: &'static str,
        /// The version found.
        found: i32,
        /// The newest version this daemon knows.
        known: i32,
    },
}

impl Connection<'_> {
    /// Checks what the types alone do not: absolute paths, and the pool size (1 to
    /// `max_pool_size`) and timeouts (1 ms to `max_timeout`) in range, named by `keys`. (Whether
    /// a client certificate comes with `server_ca` each daemon checks, in its own words.)
    ///
    /// # Errors
    ///
    /// The first setting refused.
    pub fn check(
        &self,
        keys: &SettingKeys,
        max_pool_size: usize,
        max_timeout: Duration,
    ) -> Result<(), SettingsError> {
        if let Some(path) = self.password.and_then(SecretSource::file) {
            require_absolute(keys.password_file, path)?;
        }
        if let Some(path) = self.server_ca {
            require_absolute(keys.server_ca, path)?;
        }
        if let Some((cert_chain, private_key)) = self.client_certificate {
            require_absolute(keys.cert_chain, cert_chain)?;
            require_absolute(keys.private_key, private_key)?;
        }
        require_range(keys.pool_size, self.pool_size, 1, max_pool_size as u64)?;
        for (key, timeout) in [
            (keys.connect_timeout, self.connect_timeout),
            (keys.request_timeout, self.request_timeout),
        ] {
            require_range(key, timeout.as_millis(), 1, max_timeout.as_millis() as u64)?;
        }
        Ok(())
    }

    /// A pool of connections with these settings. No connection is made yet.
    ///
    /// # Errors
    ///
    /// [`PostgresError::Settings`] for a URL that carries a password or `sslmode`, or names a
    /// remote host without `server_ca`; [`PostgresError::Password`], [`PostgresError::Tls`] or
    /// [`PostgresError::Pool`] when what the settings name cannot be loaded.
    pub fn pool(&self) -> Result<Pool, PostgresError> {
        let config = self.session_config()?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match self.tls_files() {
            Some(Ok(tls)) => Manager::from_config(config, MakeRustlsConnect::new(tls), recycling),
            Some(Err(error)) => return Err(PostgresError::Tls(error)),
            None => Manager::from_config(config, NoTls, recycling),
        };
        Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.request_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .build()
            .map_err(PostgresError::Pool)
    }

    /// A session of its own, outside the pool, that `LISTEN`s on `channel`: `heard` is woken
    /// at each notification, and once more when the session ends. Pooled sessions cannot
    /// listen: the pool drops what the server sends unasked. The session lasts as long as the
    /// returned client.
    ///
    /// # Errors
    ///
    /// As [`pool`](Self::pool) for the settings; [`PostgresError::Server`] when the server
    /// cannot be reached or refuses the `LISTEN`.
    pub async fn listen(&self, channel: &str, heard: Arc<Notify>) -> Result<Client, PostgresError> {
        let config = self.session_config()?;
        let client = match self.tls_files() {
            Some(Ok(tls)) => listening(&config, MakeRustlsConnect::new(tls), heard).await?,
            Some(Err(error)) => return Err(PostgresError::Tls(error)),
            None => listening(&config, NoTls, heard).await?,
        };
        // A channel name is an identifier: quoted, so that it is taken as written.
        let quoted = channel.replace('"', "\"\"");
        client
            .batch_execute(&format!("LISTEN \"{quoted}\""))
            .await
            .map_err(PostgresError::Server)?;
        Ok(client)
    }

    fn tls_files(&self) -> Option<Result<rustls::ClientConfig, kmip::net::NetError>> {
        let ca = self.server_ca?;
        Some(match self.client_certificate {
            Some((cert_chain, private_key)) => kmip::net::client_config(&ClientTlsFiles {
                cert_chain: cert_chain.to_owned(),
                private_key: private_key.to_owned(),
                server_ca: ca.to_owned(),
            }),
            None => kmip::net::server_verifying_config(ca),
        })
    }

    /// The connection settings: the URL's, checked, with the password, TLS and the session
    /// settings Krypton relies on.
    fn session_config(&self) -> Result<PgConfig, PostgresError> {
        let section = self.section;
        let mut config = PgConfig::from_str(self.url).map_err(|error| {
            PostgresError::Settings(format!("{section}.url is not a PostgreSQL URL: {error}"))
        })?;
        if config.get_password().is_some() {
            return Err(PostgresError::Settings(format!(
                "{section}.url carries a password: give it in {section}.password (a file or a \
                 systemd credential) instead"
            )));
        }
        if config.get_ssl_mode() != SslMode::Prefer {
            return Err(PostgresError::Settings(format!(
                "{section}.url sets sslmode: TLS is on when {section}.server_ca names the \
                 server's CA"
            )));
        }
        if self.server_ca.is_some() {
            config.ssl_mode(SslMode::Require);
        } else if config.get_hosts().iter().all(is_local) {
            config.ssl_mode(SslMode::Disable);
        } else {
            return Err(PostgresError::Settings(format!(
                "{section}.url names a host off this machine: give {section}.server_ca, so \
                 that the connection is TLS and the server verified"
            )));
        }
        if let Some(password) = self.password {
            let password = password.read().map_err(PostgresError::Password)?;
            config.password(password.as_slice());
        }
        let bound = self.request_timeout.as_millis();
        // The server probes an idle client, so that the session (and any lock it holds) of a
        // daemon whose machine vanished ends within a minute rather than hours.
        let options = format!(
            "{} -c synchronous_commit=on -c statement_timeout={bound} \
             -c idle_in_transaction_session_timeout={bound} \
             -c tcp_keepalives_idle=15 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=4",
            config.get_options().unwrap_or_default()
        );
        config
            .options(options.trim_start())
            .application_name(self.application)
            .connect_timeout(self.connect_timeout);
        Ok(config)
    }
}

/// Connects with `tls` and spawns the task that drives the session, waking `heard` at each
/// notification and when the session ends.
async fn listening<T>(
    config: &PgConfig,
    tls: T,
    heard: Arc<Notify>,
) -> Result<Client, PostgresError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await.map_err(PostgresError::Server)?;
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => heard.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        heard.notify_one();
    });
    Ok(client)
}

/// Whether a connection to `host` stays on this machine.
fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost" || IpAddr::from_str(name).is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// A daemon's versioned schema: its migrations, applied in order from the version found.
#[derive(Debug)]
pub struct Schema {
    /// The daemon, for the message when the database is newer.
    pub application: &'static str,
    /// The table that holds the version (one row).
    pub version_table: &'static str,
    /// The advisory lock daemons starting together take turns through.
    pub lock: i64,
    /// The SQL of each version, in order: the schema's version is their number.
    pub migrations: &'static [&'static str],
}

impl Schema {
    /// Brings the schema to its newest version, in one transaction under its lock.
    ///
    /// # Errors
    ///
    /// [`PostgresError::NewerSchema`] when the database is ahead of this daemon;
    /// [`PostgresError::Server`] when a statement fails.
    pub async fn migrate(&self, client: &mut Object) -> Result<(), PostgresError> {
        let known = i32::try_from(self.migrations.len()).unwrap_or(i32::MAX);
        let tx = client.transaction().await.map_err(PostgresError::Server)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.lock])
            .await
            .map_err(PostgresError::Server)?;
        let table = self.version_table;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (version integer NOT NULL)"
        ))
        .await
        .map_err(PostgresError::Server)?;
        let found: i32 = tx
            .query_one(
                &format!("SELECT coalesce(max(version), 0) FROM {table}"),
                &[],
            )
            .await
            .map_err(PostgresError::Server)?
            .get(0);
        if found > known {
            return Err(PostgresError::NewerSchema {
                application: self.application,
                found,
                known,
            });
        }
        for migration in self
            .migrations
            .iter()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.batch_execute(migration)
                .await
                .map_err(PostgresError::Server)?;
        }
        if found < known {
            tx.execute(&format!("DELETE FROM {table}"), &[])
                .await
                .map_err(PostgresError::Server)?;
            tx.execute(
                &format!("INSERT INTO {table} (version) VALUES ($1)"),
                &[&known],
            )
            .await
            .map_err(PostgresError::Server)?;
        }
        tx.commit().await.map_err(PostgresError::Server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(url: &str) -> Connection<'_> {
        Connection {
            section: "vault",
            application: "test",
            url,
            password: None,
            server_ca: None,
            client_certificate: None,
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }

    fn refusal(url: &str) -> String {
        match connection(url).session_config() {
            Err(PostgresError::Settings(why)) => why,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn unusable_urls_are_refused_before_connecting() {
        assert!(refusal("postgres://k:secret@localhost/v").contains("vault.password"));
        assert!(refusal("postgres://k@localhost/v?sslmode=disable").contains("sslmode"));
        assert!(refusal("postgres://k@db.example/v").contains("vault.server_ca"));
        assert!(refusal("mysql://k@localhost/v").contains("not a PostgreSQL URL"));
    }

    #[test]
    fn a_local_server_is_plaintext_and_every_session_commits_synchronously() {
        for url in [
            "postgres://k@localhost/v",
            "postgres://k@127.0.0.1:5433/v",
            "postgres://k@%2Frun%2Fpostgresql/v",
        ] {
            let config = connection(url).session_config().unwrap();
            assert_eq!(config.get_ssl_mode(), SslMode::Disable, "{url}");
            let options = config.get_options().unwrap();
            assert!(options.contains("-c synchronous_commit=on"), "{options}");
            assert!(options.contains("-c statement_timeout=10000"), "{options}");
        }
    }
}
