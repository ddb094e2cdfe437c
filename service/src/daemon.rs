//! The shell of each daemon's `main`: the multi-thread async runtime, SIGTERM and SIGINT
//! turned into the shutdown signal, and the systemd watchdog's pings while it serves.
//!
//! What a daemon does before its runtime exists (each hardens its process while it has one
//! thread, see [`crate::hardening`]) stays in its `main`, before [`serve`]. So does logging the error that stopped it:
//! under the daemon's own log target, a filter such as `KRYPTON_LOG=krypton_core=debug` keeps it.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::signal::unix::{SignalKind, signal};

/// Completes on the first SIGTERM or SIGINT, once systemd has been told the daemon is stopping.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Why the daemon's runtime could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The async runtime's threads or drivers could not be created.
    #[error("I/O error while starting the async runtime")]
    Runtime(#[source] io::Error),
    /// The SIGTERM and SIGINT handlers could not be installed.
    #[error("I/O error while installing signal handlers")]
    Signals(#[source] io::Error),
}

/// Starts the multi-thread async runtime and runs `serve` on it until it returns; `serve` is
/// given the [`Shutdown`] signal to stop on. The runtime's threads exist only from this call on.
///
/// # Errors
///
/// [`StartError`] (converted into `E`) if the runtime or the signal handlers cannot be set up,
/// or the error `serve` returns.
pub fn serve<E, F>(serve: impl FnOnce(Shutdown) -> F) -> Result<(), E>
where
    F: Future<Output = Result<(), E>>,
    E: From<StartError>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal().map_err(StartError::Signals)?;
        let watchdog = crate::notify::watchdog();
        let served = serve(shutdown).await;
        watchdog.inspect(tokio::task::JoinHandle::abort);
        served
    })
}

/// Installs the handlers now, so that a signal from here on is not missed.
fn shutdown_signal() -> io::Result<Shutdown> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(Box::pin(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
        crate::notify::stopping();
    }))
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    #[test]
    fn serves_until_sigint() {
        let served: Result<(), StartError> = serve(|shutdown| async move {
            let kill = Command::new("kill")
                .args(["-INT", &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(kill.success());
            tokio::time::timeout(Duration::from_secs(10), shutdown)
                .await
                .unwrap();
            Ok(())
        });
        served.unwrap();
    }
}
