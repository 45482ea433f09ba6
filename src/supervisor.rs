//! The running set of units: loads the targets (file, flags or a fixed list), keeps this
//! process's shard of the units, starts a collector per unit with a child cancellation token, and
//! on reload reconciles the running set with the new configuration atomically: unchanged units
//! keep their state and counters, removed units stop and their series vanish, new units start. A
//! configuration that does not load is refused whole and changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsContext;
use crate::clock::unix_now;
use crate::collector::{Collector, OPERATION};
use crate::config::{CollectionSettings, Targets};
use crate::error::ErrorCode;
use crate::metrics::ReloadStatus;
use crate::target::file::{ADS_REGIONS, Defaults, expand};
use crate::target::{Claims, Identity, Unit, UnitList, UnitSpec};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub kept: usize,
    pub started: usize,
    pub stopped: usize,
    /// Units of the configuration in other shards.
    pub elsewhere: usize,
}

impl std::fmt::Display for Reconciled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} units: {} kept, {} started, {} stopped ({} in other shards)",
            self.kept + self.started,
            self.kept,
            self.started,
            self.stopped,
            self.elsewhere
        )
    }
}

struct Task {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

/// The units of this process, and how to change them.
pub struct Supervisor {
    aws: AwsContext,
    targets: Targets,
    defaults: Defaults,
    collection: CollectionSettings,
    units: ArcSwap<UnitList>,
    reload_status: ArcSwap<ReloadStatus>,
    /// Held while the running set changes: reloads apply one at a time.
    tasks: Mutex<HashMap<u64, Task>>,
    permits: Arc<Semaphore>,
    claims: Arc<Claims>,
    cancel: CancellationToken,
    ready: AtomicBool,
}

impl Supervisor {
    /// Loads the targets and starts collecting; an error (a bad targets file, no region) means
    /// the exporter cannot start.
    pub async fn start(
        aws: AwsContext,
        targets: Targets,
        defaults: Defaults,
        collection: CollectionSettings,
    ) -> Result<Arc<Supervisor>, String> {
        let supervisor = Arc::new(Supervisor {
            aws,
            targets,
            defaults,
            permits: Arc::new(Semaphore::new(collection.concurrency.max(1))),
            collection,
            units: ArcSwap::from_pointee(UnitList::default()),
            reload_status: ArcSwap::from_pointee(ReloadStatus { successful: false, success_timestamp: 0.0 }),
            tasks: Mutex::new(HashMap::new()),
            claims: Arc::new(Claims::default()),
            cancel: CancellationToken::new(),
            ready: AtomicBool::new(false),
        });
        let specs = supervisor.load().await?;
        let reconciled = supervisor.apply(specs).await;
        tracing::info!(%reconciled, shard = supervisor.collection.shard.index,
            shards = supervisor.collection.shard.count, "collecting");
        supervisor.reload_status.store(Arc::new(ReloadStatus { successful: true, success_timestamp: unix_now() }));
        Ok(supervisor)
    }

    /// The units as of now.
    pub fn units(&self) -> Arc<UnitList> {
        self.units.load_full()
    }

    pub fn reload_status(&self) -> ReloadStatus {
        **self.reload_status.load()
    }

    /// Whether every unit of the first configuration has finished its first collection,
    /// successful or not. Once true it stays true: units a reload adds do not take the exporter
    /// out of service.
    pub fn ready(&self) -> bool {
        if self.ready.load(Ordering::Relaxed) {
            return true;
        }
        let settled = self.units.load().settled();
        if settled {
            self.ready.store(true, Ordering::Relaxed);
        }
        settled
    }

    /// Whether a reload can re-read anything.
    pub fn reloadable(&self) -> bool {
        matches!(self.targets, Targets::File(_))
    }

    /// Re-reads the targets file and applies it; a file that does not load is refused whole,
    /// the running units go on untouched, and `ads_config_last_reload_successful` drops to 0.
    pub async fn reload(&self) -> Result<Reconciled, String> {
        let Targets::File(path) = &self.targets else {
            return Err("there is no --config.file to reload: the targets come from the flags".to_owned());
        };
        match self.load().await {
            Ok(specs) => {
                let reconciled = self.apply(specs).await;
                self.reload_status.store(Arc::new(ReloadStatus { successful: true, success_timestamp: unix_now() }));
                tracing::info!(file = %path.display(), %reconciled, "reloaded the targets file");
                Ok(reconciled)
            }
            Err(error) => {
                let previous = self.reload_status();
                self.reload_status.store(Arc::new(ReloadStatus { successful: false, ..previous }));
                tracing::error!(%error, "refused to reload the targets file; the running units go on unchanged");
                Err(error)
            }
        }
    }

    /// The units of the configuration that fall in this process's shard, and how many fall in
    /// others.
    async fn load(&self) -> Result<(Vec<(String, UnitSpec)>, usize), String> {
        let targets = match &self.targets {
            Targets::Flags(target) => vec![(**target).clone()],
            Targets::File(path) => crate::target::file::load(path, &self.defaults)?,
            Targets::Specs(targets) => targets.clone(),
        };
        let mut regions: HashMap<Identity, Option<String>> = HashMap::new();
        for target in targets.iter().filter(|t| t.regions.is_empty()) {
            if !regions.contains_key(&target.identity) {
                let region = self.aws.default_region(&target.identity).await;
                regions.insert(target.identity.clone(), region);
            }
        }
        let units = expand(&targets, |identity| regions.get(identity).cloned().flatten())?;
        if self.aws.settings().endpoint_url.is_none() {
            warn_about_regions(&units);
        }
        let shard = self.collection.shard;
        let total = units.len();
        let mine: Vec<_> = units.into_iter().filter(|(_, spec)| spec.shard(shard.count) == shard.index).collect();
        if mine.is_empty() {
            tracing::warn!(shard = shard.index, shards = shard.count, units = total, "no unit falls in this shard");
        }
        let elsewhere = total - mine.len();
        Ok((mine, elsewhere))
    }

    /// Makes the running set match `specs`, and swaps the unit list whole.
    async fn apply(&self, (specs, elsewhere): (Vec<(String, UnitSpec)>, usize)) -> Reconciled {
        let mut tasks = self.tasks.lock().await;
        let current = self.units.load_full();
        let mut leftover: Vec<Option<Arc<Unit>>> = current.units.iter().cloned().map(Some).collect();
        let single = specs.len() == 1;
        let mut units = Vec::with_capacity(specs.len());
        let (mut kept, mut started) = (0, 0);
        for (origin, spec) in specs {
            let same = leftover.iter_mut().find(|u| u.as_ref().is_some_and(|u| u.spec == spec)).and_then(Option::take);
            if let Some(unit) = same {
                kept += 1;
                units.push(unit);
                continue;
            }
            let known = match spec.identity.known_account() {
                Some(_) => None,
                None => self.aws.accounts.known(spec.identity.profile.as_deref()),
            };
            let unit = Unit::new(spec, origin);
            if let Some(account_id) = known {
                unit.publish(crate::target::Published { account_id: Some(account_id), ..Default::default() });
            }
            unit.api.declare(OPERATION, &ErrorCode::watched());
            let clients = self.aws.clients(&unit.spec, unit.api.clone()).await;
            let collector = Collector {
                unit: unit.clone(),
                clients,
                max_backoff: self.collection.max_backoff,
                permits: self.permits.clone(),
                claims: self.claims.clone(),
                accounts: self.aws.accounts.clone(),
            };
            // A lone unit collects at once; many spread over the interval.
            let delay = if single { Duration::ZERO } else { unit.spec.start_offset() };
            let cancel = self.cancel.child_token();
            let handle = tokio::spawn(collector.run(cancel.clone(), delay));
            tasks.insert(unit.id, Task { cancel, handle });
            started += 1;
            units.push(unit);
        }
        let mut stopped = 0;
        for unit in leftover.into_iter().flatten() {
            if let Some(task) = tasks.remove(&unit.id) {
                task.cancel.cancel();
            }
            self.claims.release(unit.id);
            stopped += 1;
        }
        self.units.store(Arc::new(UnitList::new(units)));
        Reconciled { kept, started, stopped, elsewhere }
    }

    /// Stops every collector, waiting at most `within` for them to end.
    pub async fn shutdown(&self, within: Duration) {
        self.cancel.cancel();
        let handles: Vec<JoinHandle<()>> = self.tasks.lock().await.drain().map(|(_, t)| t.handle).collect();
        let all = async {
            for handle in handles {
                let _ = handle.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("collectors did not stop in time");
        }
    }
}

/// Warns once per load about units in regions where ADS has no endpoint.
fn warn_about_regions(units: &[(String, UnitSpec)]) {
    for (origin, spec) in units {
        if !ADS_REGIONS.contains(&spec.region.as_str()) {
            tracing::warn!(target = %origin, region = %spec.region,
                "ADS has no endpoint in this region; its collections will fail (ADS regions: {})", ADS_REGIONS.join(", "));
        }
    }
}
