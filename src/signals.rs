//! The signals the exporter answers: SIGINT and SIGTERM stop it, SIGHUP reloads the targets
//! file.

/// SIGHUP, as a stream of wake-ups (never, where it cannot be listened for).
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Default for Hangups {
    fn default() -> Self {
        Hangups::new()
    }
}

impl Hangups {
    pub fn new() -> Hangups {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|error| tracing::warn!(%error, "cannot listen for SIGHUP; reload with POST /-/reload"))
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    /// Completes at the next SIGHUP.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
