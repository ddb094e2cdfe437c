//! Bounded waits for blocking PKCS#11 work.
//!
//! A PKCS#11 call is a blocking FFI call that nothing can interrupt. Each piece of HSM work runs
//! on tokio's blocking pool, and the async caller waits for it at most the configured time. Work
//! that overruns keeps its thread until the module returns; [`Abandoned`] then tells it that
//! nobody took its result, so it discards what it holds (a session in an unknown state) instead
//! of handing it to the next caller.
//!
//! Every piece of HSM work passes here, so it is measured here:
//! `krypton_hsm_duration_seconds{operation}` (the wait, overruns included) and
//! `krypton_hsm_failures_total{operation}` (an error or an overrun). Operation names are
//! static descriptions, never a key label or a tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::error::HsmError;

/// Set once the caller stopped waiting for the work.
#[derive(Debug, Clone, Default)]
pub(super) struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    /// Whether the caller gave up on the work.
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Runs `work` on the blocking pool and waits at most `limit` for its result.
pub(super) async fn run_bounded<T, F>(
    operation: &'static str,
    limit: Duration,
    work: F,
) -> Result<T, HsmError>
where
    T: Send + 'static,
    F: FnOnce(&Abandoned) -> Result<T, HsmError> + Send + 'static,
{
    let started = Instant::now();
    let abandoned = Abandoned::default();
    let flag = abandoned.clone();
    let task = tokio::task::spawn_blocking(move || work(&flag));
    let result = match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(failed)) => Err(HsmError::Internal(Box::new(failed))),
        Err(_elapsed) => {
            abandoned.0.store(true, Ordering::Release);
            tracing::warn!(operation, ?limit, "HSM work overran its time limit");
            Err(HsmError::Timeout {
                operation,
                after: limit,
            })
        }
    };
    metrics::histogram!("krypton_hsm_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("krypton_hsm_failures_total", "operation" => operation).increment(1);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn overrunning_work_is_abandoned_and_reported() {
        let (release, blocked) = mpsc::channel::<()>();
        let (report, seen) = mpsc::channel();
        let result: Result<(), _> =
            run_bounded("test work", Duration::from_millis(1), move |abandoned| {
                // Blocks until the test has seen the timeout: no sleeping, no race.
                blocked.recv().ok();
                report.send(abandoned.is_set()).ok();
                Ok(())
            })
            .await;
        assert!(matches!(
            result,
            Err(HsmError::Timeout {
                operation: "test work",
                ..
            })
        ));
        release.send(()).unwrap();
        assert!(
            tokio::task::spawn_blocking(move || seen.recv().unwrap())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn results_and_panics_come_back() {
        let ok = run_bounded("sum", Duration::from_secs(60), |_| Ok(2 + 2)).await;
        assert_eq!(ok.unwrap(), 4);
        let panicked: Result<(), _> =
            run_bounded("panic", Duration::from_secs(60), |_| panic!("worker bug")).await;
        assert!(matches!(panicked, Err(HsmError::Internal(_))));
    }
}
