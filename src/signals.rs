//! The signals the exporter answers: SIGINT and SIGTERM stop it, SIGHUP reloads the targets
//! file. Listening starts when [`listen`] is called (before anything slow, so that a
//! signal during start-up is not the default action), and signals that arrive before they are
//! awaited are kept.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM.
pub struct Shutdown {
    #[cfg(unix)]
    terminate: Option<Signal>,
    #[cfg(unix)]
    interrupt: Option<Signal>,
}

/// SIGHUP.
pub struct Hangups {
    #[cfg(unix)]
    hangup: Option<Signal>,
}

#[cfg(unix)]
fn listen_for(kind: SignalKind, name: &str) -> Option<Signal> {
    signal(kind).map_err(|error| tracing::warn!(%error, "cannot listen for {name}")).ok()
}

#[cfg(unix)]
async fn next(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Starts listening for the signals. Must run inside the tokio runtime.
pub fn listen() -> (Shutdown, Hangups) {
    #[cfg(unix)]
    {
        let shutdown = Shutdown {
            terminate: listen_for(SignalKind::terminate(), "SIGTERM"),
            interrupt: listen_for(SignalKind::interrupt(), "SIGINT"),
        };
        (shutdown, Hangups { hangup: listen_for(SignalKind::hangup(), "SIGHUP; reload with POST /-/reload") })
    }
    #[cfg(not(unix))]
    (Shutdown {}, Hangups {})
}

impl Shutdown {
    /// Completes on SIGINT or SIGTERM.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            () = next(&mut self.terminate) => {}
            () = next(&mut self.interrupt) => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Hangups {
    /// Completes at the next SIGHUP.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        next(&mut self.hangup).await;
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

/// Completes on SIGINT or SIGTERM (for the simulator, which has nothing to reload).
pub async fn shutdown() {
    listen().0.wait().await;
}
