//! Wiring: the units' collectors (a [`Supervisor`]) and the web server, from a [`Config`]; and
//! stopping them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsContext;
use crate::config::{Config, Targets};
use crate::error::Error;
use crate::simulator::{Evolution, Fault, FaultPlan, Population, RunningSimulator, Simulator, SimulatorConfig};
use crate::supervisor::Supervisor;
use crate::target::file::TargetSpec;
use crate::target::{Identity, Role};
use crate::web::Web;

/// A running exporter.
pub struct Exporter {
    /// The addresses it serves on (with real ports where the config said port 0).
    pub addrs: Vec<SocketAddr>,
    pub supervisor: Arc<Supervisor>,
    /// The in-process simulator of demo mode and its script, until the exporter is dropped.
    _demo: Option<Demo>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    /// How long shutdown waits for in-flight scrapes.
    drain_timeout: Duration,
}

impl Exporter {
    /// Reads the web configuration and targets files, then binds the listen addresses (so that
    /// a bad file is named before a busy port), starts collecting and serving, and logs the
    /// effective settings once, and once more when every unit has finished its first
    /// collection.
    pub async fn start(mut config: Config) -> Result<Exporter, Error> {
        let demo = if config.demo { Some(start_demo_simulator().await?) } else { None };
        if let Some(running) = &demo {
            let endpoint: url::Url = running.simulator.endpoint_url().parse().expect("a loopback URL");
            config.aws.endpoint_url = Some(endpoint.clone());
            config.aws.sts_endpoint_url = Some(endpoint);
            if let Targets::Flags(_) = config.targets {
                config.targets = Targets::Specs(demo_targets(&config.defaults.settings, &config.defaults.collectors));
            }
        }
        let web_config = match &config.web.config_file {
            Some(path) => crate::web::webconfig::load(path).map_err(Error::WebConfig)?,
            None => crate::web::webconfig::WebConfig::default(),
        };
        let aws = AwsContext::new(config.aws.clone());
        let file = matches!(config.targets, Targets::File(_));
        let supervisor =
            Supervisor::new(aws, config.targets.clone(), config.defaults.clone(), config.collection.clone());
        let loaded = supervisor.load().await.map_err(|e| match file {
            true => Error::TargetsFile(e),
            false if e.contains("no region") => Error::NoRegion,
            false => Error::Targets(e),
        })?;

        let tls = web_config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let mut listeners = Vec::new();
        for &addr in &config.web.listen_addresses {
            let listener = TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })?;
            listeners.push(listener);
        }
        let addrs: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();

        crate::metrics::process::record_start();
        let exposition = crate::metrics::Exposition::new()?;
        for (service, endpoint, source) in custom_endpoints(&config.aws) {
            tracing::info!(%endpoint, source, "sending {service} calls to a custom endpoint");
        }
        let reconciled = supervisor.begin(loaded).await;
        let list = supervisor.units();
        let settings = |pick: fn(&crate::target::UnitSpec) -> String| {
            let values: std::collections::BTreeSet<String> = list.units.iter().map(|u| pick(&u.spec)).collect();
            values.into_iter().collect::<Vec<_>>().join(" ")
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            revision = env!("ADS_EXPORTER_REVISION"),
            targets = %config.targets,
            units = list.units.len(),
            refused = list.units.iter().filter(|u| u.state().refused.is_some()).count(),
            elsewhere = reconciled.elsewhere,
            shard = %format!("{}/{}", config.collection.shard.index, config.collection.shard.count),
            intervals = %settings(|s| humantime::format_duration(s.settings.interval).to_string()),
            timeouts = %settings(|s| humantime::format_duration(s.settings.timeout).to_string()),
            collectors = %settings(|s| s.collectors.iter().map(|k| k.label()).collect::<Vec<_>>().join(",")),
            concurrency = config.collection.concurrency,
            telemetry_path = %config.web.telemetry_path,
            tls = tls.is_some(),
            basic_auth = web_config.auth.is_some(),
            lifecycle = config.web.enable_lifecycle,
            "effective settings"
        );

        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let web = Arc::new(Web {
            exposition,
            telemetry_path: config.web.telemetry_path.clone(),
            supervisor: supervisor.clone(),
            enable_lifecycle: config.web.enable_lifecycle,
            auth: web_config.auth.clone(),
            headers: web_config.headers.clone(),
        });
        for listener in listeners {
            let web = web.clone();
            let handler = move |request| web.clone().handle(request);
            let stop = cancel.clone();
            tasks.spawn(crate::web::serve::serve(
                listener,
                tls.clone(),
                handler,
                config.web.limits.clone(),
                async move { stop.cancelled().await },
            ));
        }
        for addr in &addrs {
            tracing::info!(%addr, scheme, basic_auth = web_config.auth.is_some(), "serving metrics");
        }
        tasks.spawn(announce_ready(supervisor.clone(), cancel.clone()));
        Ok(Exporter { addrs, supervisor, _demo: demo, cancel, tasks, drain_timeout: config.web.limits.drain_timeout })
    }

    /// The first address's base URL, for tests.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addrs[0])
    }

    /// Stops the collectors at once and drains in-flight requests for at most the drain timeout.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.supervisor.shutdown(Duration::from_secs(2)).await;
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        // The servers give up draining after drain_timeout; this is only a backstop.
        if tokio::time::timeout(self.drain_timeout + Duration::from_secs(1), drain).await.is_err() {
            tracing::warn!("shutdown took too long; stopping anyway");
            self.tasks.abort_all();
        }
    }
}

/// The endpoints that replace AWS's: the flags', else the SDK's environment variables
/// (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), with where each comes from.
fn custom_endpoints(aws: &crate::config::AwsSettings) -> Vec<(&'static str, String, &'static str)> {
    let from_env = |service: &'static str, flag: Option<&url::Url>, flag_name: &'static str, variable: &'static str| {
        if let Some(url) = flag {
            return Some((service, url.to_string(), flag_name));
        }
        for name in [variable, "AWS_ENDPOINT_URL"] {
            if let Ok(value) = std::env::var(name)
                && !value.trim().is_empty()
            {
                return Some((service, value, name));
            }
        }
        None
    };
    [
        from_env(
            "ADS",
            aws.endpoint_url.as_ref(),
            "--aws.endpoint-url",
            "AWS_ENDPOINT_URL_APPLICATION_DISCOVERY_SERVICE",
        ),
        from_env("STS", aws.sts_endpoint_url.as_ref(), "--aws.sts-endpoint-url", "AWS_ENDPOINT_URL_STS"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Logs once when every unit has finished its first collection (what `/-/ready` waits for).
async fn announce_ready(supervisor: Arc<Supervisor>, cancel: CancellationToken) {
    loop {
        if supervisor.ready() {
            let list = supervisor.units();
            let slots = || list.units.iter().filter(|u| u.state().refused.is_none()).flat_map(|u| u.slots.iter());
            tracing::info!(
                units = list.units.len(),
                collectors = slots().count(),
                up = slots().filter(|s| s.published().up()).count(),
                failing = slots().filter(|s| !s.published().up()).count(),
                refused = list.units.iter().filter(|u| u.state().refused.is_some()).count(),
                "ready: every unit has finished its first collection"
            );
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// The demo's accounts: one reached with the (static) base credentials, two through roles.
pub const DEMO_ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
/// The demo's regions.
pub const DEMO_REGIONS: [&str; 2] = ["us-west-2", "eu-west-1"];

/// The demo's targets: three accounts in two regions, with static labels.
pub fn demo_targets(
    settings: &crate::target::UnitSettings,
    collectors: &std::collections::BTreeSet<crate::target::Kind>,
) -> Vec<TargetSpec> {
    let target = |origin: &str, identity: Identity, labels: &[(&str, &str)]| TargetSpec {
        origin: origin.to_owned(),
        identity,
        regions: DEMO_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        settings: settings.clone(),
        filters: Default::default(),
        collectors: collectors.clone(),
    };
    let role = |account: &str, external_id: Option<&str>| Identity {
        role: Some(Role {
            arn: format!("arn:aws:iam::{account}:role/ads-exporter-read"),
            external_id: external_id.map(str::to_owned),
            session_name: crate::target::DEFAULT_SESSION_NAME.to_owned(),
        }),
        ..Identity::default()
    };
    vec![
        target("demo[0]", Identity::default(), &[("programme", "dc-exit"), ("wave", "1")]),
        target("demo[1]", role(DEMO_ACCOUNTS[1], Some("demo-external-id")), &[("programme", "dc-exit"), ("wave", "2")]),
        target("demo[2]", role(DEMO_ACCOUNTS[2], None), &[("programme", "erp-move"), ("wave", "1")]),
    ]
}

/// The simulator of demo mode, serving until dropped, and the script of what happens in it.
struct Demo {
    simulator: RunningSimulator,
    _script: tokio_util::task::AbortOnDropHandle<()>,
}

/// The simulator of demo mode: per account and region a month of history, exports starting and
/// ending every few seconds (now and then one fails or is truncated), one export stuck for three
/// hours, and now and then a throttled request (which the SDK retries); and a script of what
/// goes wrong in the first minutes ([`demo_script`]), so that a newcomer sees alerts go pending,
/// fire and resolve.
async fn start_demo_simulator() -> Result<Demo, Error> {
    let seed: u64 = rand::random();
    // Busier than an account usually is: across the six units, exports start and finish every
    // few seconds; failures and truncations are rare (about one an hour across the demo), so
    // that the alerts about them mean something (the script brings one of each).
    let evolution = Evolution {
        mean_seconds_between_starts: 10.0,
        run_seconds: (5.0, 40.0),
        failure_ratio: 0.0005,
        truncation_ratio: 0.0003,
    };
    let config =
        SimulatorConfig { evolution: Some(evolution.clone()), seed, any_role: true, ..SimulatorConfig::default() };
    let simulator = Simulator::demo(250, config);
    let (key, _) = crate::aws::demo_credentials();
    simulator.add_access_key(&key, DEMO_ACCOUNTS[0]);
    simulator
        .allow_role(&format!("arn:aws:iam::{}:role/ads-exporter-read", DEMO_ACCOUNTS[1]), Some("demo-external-id"));
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    for (i, account) in DEMO_ACCOUNTS.iter().enumerate() {
        for (j, region) in DEMO_REGIONS.iter().enumerate() {
            let history = 120 + 90 * i + 40 * j;
            let population = Population::demo(history, crate::clock::unix_now(), &evolution, &mut rng);
            simulator.add_account(account, region, population);
        }
    }
    simulator.set_fault(Some(FaultPlan::sometimes(Fault::Throttle, 0.1)));
    let running = simulator.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(Error::Simulator)?;
    tracing::info!(endpoint = %running.endpoint_url(), "demo mode: collecting from the built-in ADS simulator");
    let script = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(demo_script(simulator)));
    Ok(Demo { simulator: running, _script: script })
}

/// When the demo's scripted events happen, in seconds from its start (the README's demo
/// timeline).
pub const DEMO_SCRIPT: DemoScript = DemoScript {
    continuous_export_error: (45, 465),
    refusals: (120, 360),
    refusals_every: 1_800,
    truncated_export: 180,
    failed_import: 240,
    stuck_exports_cancelled: 480,
};

/// See [`DEMO_SCRIPT`].
#[derive(Debug, Clone, Copy)]
pub struct DemoScript {
    /// The first continuous export of the first account in us-west-2 is in `ERROR` (from, to).
    pub continuous_export_error: (u64, u64),
    /// The third account in eu-west-1 refuses half of its requests (from, to), and again every
    /// `refusals_every` seconds.
    pub refusals: (u64, u64),
    pub refusals_every: u64,
    /// An export of the second account in us-west-2 ends truncated.
    pub truncated_export: u64,
    /// An import of the first account in eu-west-1 fails.
    pub failed_import: u64,
    /// Every unit's stuck export is cancelled (it ends `FAILED`), one unit every 20 s from then.
    pub stuck_exports_cancelled: u64,
}

/// Something the demo's script does to the simulator.
type DemoEvent = Box<dyn Fn(&Simulator) + Send>;

/// Plays [`DEMO_SCRIPT`] on the demo's simulator.
async fn demo_script(simulator: Arc<Simulator>) {
    let script = DEMO_SCRIPT;
    let start = tokio::time::Instant::now();
    let refusals = FaultPlan::sometimes(Fault::Error("AuthorizationErrorException".to_owned()), 0.5);
    let (refused_account, refused_region) = (DEMO_ACCOUNTS[2], DEMO_REGIONS[1]);
    let mut events: Vec<(u64, DemoEvent)> = vec![
        (
            script.continuous_export_error.0,
            Box::new(move |s: &Simulator| {
                let until = crate::clock::unix_now()
                    + (script.continuous_export_error.1 - script.continuous_export_error.0) as f64;
                s.with_account(DEMO_ACCOUNTS[0], DEMO_REGIONS[0], |p| {
                    if let Some(export) = p.pipeline.continuous_exports.first_mut() {
                        export.set_error(until);
                    }
                });
            }),
        ),
        (
            script.truncated_export,
            Box::new(|s: &Simulator| {
                let now = crate::clock::unix_now();
                s.with_account(DEMO_ACCOUNTS[1], DEMO_REGIONS[0], |p| {
                    p.push(
                        crate::simulator::Task::new("export-demo-truncated", crate::simulator::SUCCEEDED, now - 30.0)
                            .truncated(),
                    );
                });
            }),
        ),
        (
            script.failed_import,
            Box::new(|s: &Simulator| {
                s.with_account(DEMO_ACCOUNTS[0], DEMO_REGIONS[1], |p| {
                    p.pipeline.fail_an_import(crate::clock::unix_now())
                });
            }),
        ),
    ];
    let mut unit = 0;
    for account in DEMO_ACCOUNTS {
        for region in DEMO_REGIONS {
            let at = script.stuck_exports_cancelled + 20 * unit;
            events.push((
                at,
                Box::new(move |s: &Simulator| {
                    s.with_account(account, region, |p| p.cancel_stuck());
                }),
            ));
            unit += 1;
        }
    }
    events.sort_by_key(|(at, _)| *at);
    let refusal_episodes = (0..).map(|n| {
        let offset = n * script.refusals_every;
        (script.refusals.0 + offset, script.refusals.1 + offset)
    });
    let mut events = events.into_iter().peekable();
    for (from, to) in refusal_episodes {
        for (at, on) in [(from, true), (to, false)] {
            while let Some((when, _)) = events.peek()
                && *when <= at
            {
                let (when, event) = events.next().expect("peeked");
                tokio::time::sleep_until(start + Duration::from_secs(when)).await;
                event(&simulator);
            }
            tokio::time::sleep_until(start + Duration::from_secs(at)).await;
            let plan = on.then(|| refusals.clone());
            simulator.set_fault_for(refused_account, refused_region, plan);
        }
    }
}
