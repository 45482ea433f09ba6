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
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::aws::AwsContext;
use crate::aws::UnitClients;
use crate::clock::unix_now;
use crate::collectors::{Collector, IDENTITY_OPERATION, Pools, caller_account};
use crate::config::{CollectionSettings, Targets};
use crate::data::export_tasks::Lifecycle;
use crate::error::ErrorCode;
use crate::metrics::{ReloadFailure, ReloadStatus};
use crate::target::file::{ADS_REGIONS, Defaults, expand};
use crate::target::{Claims, Identity, Kind, Published, Unit, UnitList, UnitSpec};

/// How long loading waits for STS to tell new units' accounts.
const ACCOUNT_LOOKUP: Duration = Duration::from_secs(5);

/// The units a configuration holds for this shard (with where each is defined), and how many
/// fall in other shards.
pub type Loaded = (Vec<(String, UnitSpec)>, usize);

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub kept: usize,
    /// Units whose labels, settings or collectors changed: their successors go on with their
    /// counters.
    pub changed: usize,
    pub started: usize,
    pub stopped: usize,
    /// Units of the configuration in other shards.
    pub elsewhere: usize,
}

impl std::fmt::Display for Reconciled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} kept, {} changed, {} started, {} stopped ({} in other shards)",
            crate::check::plural(self.kept + self.changed + self.started, "unit"),
            self.kept,
            self.changed,
            self.started,
            self.stopped,
            self.elsewhere
        )
    }
}

/// The collectors of one unit; each hands its export lifecycle back when it stops.
struct Task {
    cancel: CancellationToken,
    handles: Vec<JoinHandle<(Kind, Lifecycle)>>,
}

/// What a reload does with one unit of the new configuration.
enum Plan {
    /// Unchanged: it goes on, at its (maybe new) place in the configuration.
    Keep { unit: Arc<Unit>, origin: String, rank: usize },
    /// New, or the successor of a unit with the same credentials, region and filters.
    Start { origin: String, spec: Box<UnitSpec>, rank: usize, predecessor: Option<Arc<Unit>> },
}

/// The units of this process, and how to change them.
pub struct Supervisor {
    aws: AwsContext,
    targets: Targets,
    defaults: Defaults,
    collection: CollectionSettings,
    units: ArcSwap<UnitList>,
    reload_status: ArcSwap<ReloadStatus>,
    /// Held for a whole reload (reading, applying, reporting): reloads apply one at a time, in
    /// the order they started.
    reloading: Mutex<()>,
    /// The collectors, by unit id. Never held across an await.
    tasks: std::sync::Mutex<HashMap<u64, Task>>,
    pools: Pools,
    claims: Arc<Claims>,
    cancel: CancellationToken,
    ready: AtomicBool,
}

impl Supervisor {
    /// A supervisor of no units yet: [`Supervisor::load`] reads the targets (before the web
    /// server binds its ports, so that a bad file is named first), [`Supervisor::begin`] starts
    /// them.
    pub fn new(
        aws: AwsContext,
        targets: Targets,
        defaults: Defaults,
        collection: CollectionSettings,
    ) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            aws,
            targets,
            defaults,
            pools: Pools::new(collection.concurrency),
            collection,
            units: ArcSwap::from_pointee(UnitList::default()),
            reload_status: ArcSwap::from_pointee(ReloadStatus::default()),
            reloading: Mutex::new(()),
            tasks: std::sync::Mutex::new(HashMap::new()),
            claims: Arc::new(Claims::default()),
            cancel: CancellationToken::new(),
            ready: AtomicBool::new(false),
        })
    }

    /// Starts collecting the units `load` found.
    pub async fn begin(&self, loaded: Loaded) -> Reconciled {
        let _reloading = self.reloading.lock().await;
        let reconciled = self.apply(loaded).await;
        self.set_reload_status(ReloadStatus { success_timestamp: unix_now(), error: None });
        reconciled
    }

    /// The units as of now.
    pub fn units(&self) -> Arc<UnitList> {
        self.units.load_full()
    }

    pub fn reload_status(&self) -> ReloadStatus {
        ReloadStatus::clone(&self.reload_status.load())
    }

    /// Where the targets come from.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// This process's shard.
    pub fn shard(&self) -> crate::config::Shard {
        self.collection.shard
    }

    fn set_reload_status(&self, status: ReloadStatus) {
        self.reload_status.store(Arc::new(status));
        crate::target::changed();
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
    /// Profiles are read again for the units it starts.
    pub async fn reload(&self) -> Result<Reconciled, String> {
        let Targets::File(path) = &self.targets else {
            return Err("there is no --config.file to reload: the targets come from the flags".to_owned());
        };
        let _reloading = self.reloading.lock().await;
        tracing::info!(file = %path.display(), "reloading the targets file");
        self.aws.forget_profiles();
        match self.load().await {
            Ok(loaded) => {
                let reconciled = self.apply(loaded).await;
                self.set_reload_status(ReloadStatus { success_timestamp: unix_now(), error: None });
                tracing::info!(file = %path.display(), %reconciled, "reloaded the targets file");
                Ok(reconciled)
            }
            Err(error) => {
                let previous = self.reload_status();
                let failed = ReloadFailure { at: unix_now(), error: error.clone() };
                self.set_reload_status(ReloadStatus { error: Some(failed), ..previous });
                tracing::error!(%error, "refused to reload the targets file; the running units go on unchanged");
                Err(error)
            }
        }
    }

    /// The units of the configuration that fall in this process's shard, and how many fall in
    /// others; an error (a bad targets file, a missing profile, no region) names what is wrong.
    pub async fn load(&self) -> Result<Loaded, String> {
        let loaded = self.load_targets().await;
        match &self.targets {
            // Every error names the file (the file's own reading names it already).
            Targets::File(path) => loaded.map_err(|e| crate::target::file::in_file(path, &e)),
            _ => loaded,
        }
    }

    async fn load_targets(&self) -> Result<Loaded, String> {
        let targets = match &self.targets {
            Targets::Flags(target) => vec![(**target).clone()],
            Targets::File(path) => crate::target::file::load(path, &self.defaults)?,
            Targets::Specs(targets) => targets.clone(),
        };
        if self.aws.settings().static_credentials.is_none() {
            let profiles = targets.iter().filter_map(|t| {
                let at = match &self.targets {
                    Targets::Flags(_) => "--aws.profile".to_owned(),
                    _ => format!("{}.profile", t.origin),
                };
                t.identity.profile.as_deref().map(|p| (at, p))
            });
            crate::aws::check_profiles(profiles).await?;
        }
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

    /// Makes the running set match `specs`, and swaps the unit list whole: unchanged units are
    /// kept (with their state and counters), units whose labels, settings or collectors changed
    /// (but not their credentials, region or filters) are succeeded by new ones that go on with
    /// their counters and export lifecycle, removed ones stopped (and their claims released, so
    /// that their successors may claim), new ones started. Everything that may take long (clients,
    /// STS) comes before anything is stopped or released; after that, only the stopped collectors
    /// of changed units are awaited (they stop at their next await, at once), so that their
    /// counters and lifecycles pass on whole. The reload runs in a task of its own: it is applied
    /// whole or not at all.
    async fn apply(&self, (specs, elsewhere): Loaded) -> Reconciled {
        let current = self.units.load_full();
        let mut leftover: Vec<Option<Arc<Unit>>> = current.units.iter().cloned().map(Some).collect();
        let single = specs.len() == 1;
        // Unchanged units first, so that a changed unit is never paired with an unchanged one's spec.
        let mut plan: Vec<Plan> = specs
            .into_iter()
            .enumerate()
            .map(|(rank, (origin, spec))| {
                let same =
                    leftover.iter_mut().find(|u| u.as_ref().is_some_and(|u| u.spec == spec)).and_then(Option::take);
                match same {
                    Some(unit) => Plan::Keep { unit, origin, rank },
                    None => Plan::Start { origin, spec: Box::new(spec), rank, predecessor: None },
                }
            })
            .collect();
        for entry in &mut plan {
            if let Plan::Start { spec, predecessor, .. } = entry {
                *predecessor = leftover
                    .iter_mut()
                    .find(|u| u.as_ref().is_some_and(|u| u.spec.key() == spec.key() && u.spec.filters == spec.filters))
                    .and_then(Option::take);
            }
        }
        let removed: Vec<Arc<Unit>> = leftover.into_iter().flatten().collect();

        // New units and successors, their clients, and the accounts not known yet, before any
        // collects: their series carry the right account from the start, and duplicates are
        // refused at once.
        let mut fresh = Vec::new();
        for entry in &plan {
            if let Plan::Start { origin, spec, rank, predecessor } = entry {
                let unit = match predecessor {
                    Some(old) => Unit::succeeding(old, UnitSpec::clone(spec), origin.clone(), *rank),
                    None => Unit::new(UnitSpec::clone(spec), origin.clone(), *rank),
                };
                let clients = self.aws.clients(&unit.spec, unit.api.clone()).await;
                fresh.push((unit, clients));
            }
        }
        self.learn_accounts(&fresh).await;

        // Nothing waits from here until the old collectors are told to stop.
        let successions: Vec<Arc<Unit>> = plan
            .iter()
            .filter_map(|p| match p {
                Plan::Start { predecessor: Some(old), .. } => Some(old.clone()),
                _ => None,
            })
            .collect();
        let mut stopping = Vec::new();
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            for unit in removed.iter().chain(&successions) {
                if let Some(task) = tasks.remove(&unit.id) {
                    task.cancel.cancel();
                    if successions.iter().any(|s| s.id == unit.id) {
                        stopping.push((unit.id, task.handles));
                    }
                }
                self.claims.release(unit.id);
            }
        }
        // The predecessors' collectors stop at their next await (at once): their last published
        // states and export lifecycles pass to the successors, so no collection is lost or
        // counted twice.
        let mut lifecycles: HashMap<u64, HashMap<Kind, Lifecycle>> = HashMap::new();
        for (id, handles) in stopping {
            let mut of_unit = HashMap::new();
            for handle in handles {
                match tokio::time::timeout(Duration::from_secs(5), handle).await {
                    Ok(Ok((kind, lifecycle))) => {
                        of_unit.insert(kind, lifecycle);
                    }
                    _ => tracing::warn!(
                        "a collector did not stop in time; its successor starts its export lifecycle anew"
                    ),
                }
            }
            lifecycles.insert(id, of_unit);
        }
        // Now that the old collectors have stopped: the kept units' places (before any new unit
        // claims, so that the first in the file keeps a duplicated account and region), and the
        // new units' counters (a successor's, shared with its predecessor, lose the operations of
        // collectors it no longer runs).
        for entry in &plan {
            if let Plan::Keep { unit, origin, rank } = entry {
                unit.set_place(origin.clone(), *rank);
            }
        }
        for (unit, clients) in &fresh {
            let mut operations: Vec<&str> = unit.spec.collectors.iter().map(|k| k.operation()).collect();
            if clients.sts.is_some() {
                operations.push(IDENTITY_OPERATION);
            }
            unit.api.retain(&operations);
            for operation in operations {
                unit.api.declare(operation, &ErrorCode::watched(operation));
            }
        }
        let (mut kept, mut started, mut changed) = (0, 0, 0);
        let mut fresh = fresh.into_iter();
        let mut units = Vec::with_capacity(plan.len());
        for entry in plan {
            let unit = match entry {
                Plan::Keep { unit, .. } => {
                    kept += 1;
                    unit
                }
                Plan::Start { predecessor, .. } => {
                    let (unit, clients) = fresh.next().expect("one new unit per new spec");
                    let mut carried = HashMap::new();
                    match predecessor {
                        Some(old) => {
                            changed += 1;
                            for slot in &unit.slots {
                                if let Some(before) = old.slot(slot.kind) {
                                    slot.publish(Published::clone(&before.published()));
                                }
                            }
                            carried = lifecycles.remove(&old.id).unwrap_or_default();
                        }
                        None => started += 1,
                    }
                    self.launch(unit, clients, single, carried)
                }
            };
            units.push(unit);
        }
        self.units.store(Arc::new(UnitList::new(units)));
        crate::target::changed();
        Reconciled { kept, changed, started, stopped: removed.len(), elsewhere }
    }

    /// Asks STS, at once for all new units (once per profile), whose base credentials they have;
    /// a few seconds at most: a unit whose account is still not known asks again as it collects.
    async fn learn_accounts(&self, fresh: &[(Arc<Unit>, UnitClients)]) {
        let mut lookups = JoinSet::new();
        for (unit, clients) in fresh {
            if unit.state().account_id.is_some() {
                continue;
            }
            let profile = unit.spec.identity.profile.as_deref();
            if let Some(account_id) = self.aws.accounts.known(profile) {
                unit.update_state(|state| state.account_id = Some(account_id.clone()));
                continue;
            }
            let (unit, clients, accounts) = (unit.clone(), clients.clone(), self.aws.accounts.clone());
            lookups.spawn(async move {
                match caller_account(&unit, &clients, &accounts).await {
                    Ok(account_id) => unit.update_state(|state| state.account_id = Some(account_id.clone())),
                    Err(error) => {
                        // Its first error's own text (a later one may only say "already taken");
                        // the collectors log again only when the code changes.
                        tracing::warn!(unit = %unit.spec, target = %unit.origin(), code = %error.code(),
                            operation = error.operation().unwrap_or(""), error = %error,
                            "cannot learn the account of the unit from STS; its series carry aws_account_id=\"\" until STS answers");
                        unit.update_state(|state| state.identity_error = Some(error.code()));
                    }
                }
            });
        }
        if tokio::time::timeout(ACCOUNT_LOOKUP, async { while lookups.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!("STS did not tell the accounts of every new unit in time; they ask again as they collect");
        }
    }

    /// Claims a new unit's account and region when it is known (a unit refused here publishes
    /// nothing), and starts its collectors, each with the export lifecycle its predecessor left.
    fn launch(
        &self,
        unit: Arc<Unit>,
        clients: UnitClients,
        single: bool,
        mut lifecycles: HashMap<Kind, Lifecycle>,
    ) -> Arc<Unit> {
        if let Some(target) = unit.target_id() {
            // Refused or not, its collectors run: they claim again at each collection.
            self.claims.claim(&target, &unit);
        }
        let cancel = self.cancel.child_token();
        let mut handles = Vec::with_capacity(unit.slots.len());
        for slot in &unit.slots {
            let collector = Collector {
                unit: unit.clone(),
                kind: slot.kind,
                clients: clients.clone(),
                max_backoff: self.collection.max_backoff,
                pools: self.pools.clone(),
                claims: self.claims.clone(),
                accounts: self.aws.accounts.clone(),
                lifecycle: lifecycles.remove(&slot.kind).unwrap_or_default(),
            };
            // A lone unit collects at once; many spread over the interval.
            let delay = if single { Duration::ZERO } else { unit.spec.start_offset(slot.kind) };
            let (kind, cancel) = (slot.kind, cancel.clone());
            handles.push(tokio::spawn(async move { (kind, collector.run(cancel, delay).await) }));
        }
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).insert(unit.id, Task { cancel, handles });
        unit
    }

    /// Stops every collector, waiting at most `within` for them to end.
    pub async fn shutdown(&self, within: Duration) {
        self.cancel.cancel();
        let handles: Vec<JoinHandle<(Kind, Lifecycle)>> =
            self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain().flat_map(|(_, t)| t.handles).collect();
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
