//! Reports to systemd through `sd_notify` (`Type=notify` units).
//!
//! A report that cannot be sent is logged and otherwise ignored: the service works the same,
//! and systemd's start timeout tells the operator if readiness never arrived.

use sd_notify::NotifyState;

/// The listeners are up: systemd may start the units ordered after this one. `status` is the
/// one-line state shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new one-line state for `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// With `WatchdogSec=` in the unit, starts a task that tells systemd the daemon is alive at
/// half that interval. It runs on the daemon's own runtime, so a runtime that stops scheduling
/// tasks stops the pings, and systemd restarts the daemon (`Restart=on-failure`). `None`
/// without a watchdog. Must be called on the runtime.
pub fn watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()? / 2;
    tracing::info!(?interval, "systemd watchdog: pinging");
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

/// Shutdown has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot report to systemd (sd_notify)");
    }
}
