//! Wiring: start the collector(s) and the web server from a [`Config`], and stop them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aws::Timeouts;
use crate::collector::{Target, TargetState};
use crate::config::Config;
use crate::error::Error;
use crate::http::Web;
use crate::metrics::{CollectorMetrics, PublishedMetrics};
use crate::simulator::{Evolution, Fault, FaultPlan, RunningSimulator, Schedule, Simulator, SimulatorConfig};

/// A running exporter.
pub struct Exporter {
    /// The addresses it serves on (with real ports where the config said port 0).
    pub addrs: Vec<SocketAddr>,
    /// The in-process simulator of demo mode, serving until the exporter is dropped.
    _demo: Option<RunningSimulator>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    /// How long shutdown waits for in-flight scrapes.
    drain_timeout: Duration,
}

impl Exporter {
    /// Binds the listen addresses, builds the AWS client and starts collecting and serving.
    pub async fn start(mut config: Config) -> Result<Exporter, Error> {
        let demo = if config.demo { Some(start_demo_simulator().await?) } else { None };
        if let Some(running) = &demo {
            config.aws.endpoint_url = Some(running.endpoint_url().parse().expect("a loopback URL"));
        }
        let web_config = match &config.web.config_file {
            Some(path) => crate::webconfig::load(path).map_err(Error::WebConfig)?,
            None => crate::webconfig::WebConfig::default(),
        };
        let tls = web_config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let mut listeners = Vec::new();
        for &addr in &config.web.listen_addresses {
            let listener = TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })?;
            listeners.push(listener);
        }
        let addrs = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();

        let registry = Registry::new();
        crate::metrics::register_build_and_process(&registry)?;
        let metrics = CollectorMetrics::new(&registry)?;
        let client =
            crate::aws::client(&config.aws, Timeouts::for_collection(config.collector.timeout), metrics.api.clone())
                .await?;
        let state = Arc::new(TargetState::new(metrics));
        registry.register(Box::new(PublishedMetrics::new(state.published.clone())))?;

        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(Target::new(client, config.collector.clone(), state.clone()).run(cancel.clone()));
        let web = Arc::new(Web {
            registry,
            telemetry_path: config.web.telemetry_path.clone(),
            targets: vec![state.clone()],
            auth: web_config.auth.clone(),
            headers: web_config.headers.clone(),
        });
        for listener in listeners {
            let web = web.clone();
            let handler = move |request| web.clone().handle(request);
            let stop = cancel.clone();
            tasks.spawn(crate::serve::serve(listener, tls.clone(), handler, config.web.limits.clone(), async move {
                stop.cancelled().await
            }));
        }
        if let Some(endpoint) = &config.aws.endpoint_url {
            tracing::info!(%endpoint, "sending ADS calls to a custom endpoint");
        }
        Ok(Exporter { addrs, _demo: demo, cancel, tasks, drain_timeout: config.web.limits.drain_timeout })
    }

    /// The first address's base URL, for tests.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addrs[0])
    }

    /// Stops the collector at once and drains in-flight requests for at most the drain timeout.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        // The servers give up draining after drain_timeout; this is only a backstop.
        if tokio::time::timeout(self.drain_timeout + Duration::from_secs(1), drain).await.is_err() {
            tracing::warn!("shutdown took too long; stopping anyway");
            self.tasks.abort_all();
        }
    }
}

/// The simulator of demo mode: a month of history, exports starting and ending every few
/// seconds, one stuck export, and now and then a throttled request (which the SDK retries), so
/// that every dashboard panel has something to show.
async fn start_demo_simulator() -> Result<RunningSimulator, Error> {
    let config =
        SimulatorConfig { evolution: Some(Evolution::default()), seed: rand::random(), ..SimulatorConfig::default() };
    let simulator = Simulator::demo(250, config);
    simulator.set_fault(Some(FaultPlan { fault: Fault::Throttle, schedule: Schedule::Probability(0.1) }));
    let running = simulator.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(Error::Simulator)?;
    tracing::info!(endpoint = %running.endpoint_url(), "demo mode: collecting from the built-in ADS simulator");
    Ok(running)
}
