//! Waiting for a service to be really ready: a probe that talks its protocol is retried until it
//! succeeds, the service's process dies, or the start-up timeout passes. No fixed sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::process::ManagedProcess;

/// Retries `probe` until it succeeds. Fails fast, with the tail of the log, when the process
/// exits; fails with the last probe error and the log tail when `timeout` passes.
pub async fn wait_until_ready<F, Fut>(
    process: &ManagedProcess,
    timeout: Duration,
    mut probe: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let backoff = backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut failures = 0;
    loop {
        let last_error = match tokio::time::timeout(Duration::from_secs(10), probe()).await {
            Ok(Ok(())) => {
                tracing::info!("{} is ready after {:.1?}", process.name, started.elapsed());
                return Ok(());
            }
            Ok(Err(error)) => format!("{error:#}"),
            Err(_) => "the probe did not answer within 10 s".to_owned(),
        };
        if process.running_pid().is_none() {
            bail!(
                "{} exited during start-up (last probe: {last_error}); the end of {}:\n{}",
                process.name,
                process.log_file().display(),
                process.log_tail(40)
            );
        }
        if started.elapsed() > timeout {
            bail!(
                "{} was not ready after {timeout:?} (last probe: {last_error}); the end of {}:\n{}",
                process.name,
                process.log_file().display(),
                process.log_tail(40)
            );
        }
        failures += 1;
        tokio::time::sleep(backoff.jittered(failures)).await;
    }
}
