//! The collector unit: one target (a set of credentials) in one region. Everything the exporter
//! does is per unit: its own SDK clients and credentials, schedule, timeout, backoff and counters,
//! and the series it publishes carry its `aws_account_id`, `aws_region` and static labels.
//!
//! [`UnitSpec`] is what the configuration says about a unit (compared on reload: an unchanged
//! spec keeps its running unit); [`Unit`] is a running unit's published state, read by scrapes
//! and written only by its collector.

pub mod counters;
pub mod file;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};

use crate::data::Data;
use crate::error::{CollectionError, ErrorCode};
pub use counters::{ApiCounters, OperationCounts};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A number that moves whenever anything a scrape shows changes, but for the clock: a publish,
/// an API counter, the list of units, the reload status. An exposition rendered at one
/// generation (and within one second) is good for as long as it stays the same.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

/// Something a scrape shows has changed.
pub fn changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The account and region a unit's series describe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId {
    pub account_id: String,
    pub region: String,
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {} in {}", self.account_id, self.region)
    }
}

/// An IAM role to assume on top of the base credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Role {
    /// `arn:aws:iam::ACCOUNT:role/NAME`, checked when the configuration is read.
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// The default `RoleSessionName`.
pub const DEFAULT_SESSION_NAME: &str = "ads_exporter";

impl Role {
    /// The account the role belongs to.
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// Where a unit's credentials come from, and what is known of its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    /// Base credentials from this profile instead of the default chain.
    pub profile: Option<String>,
    pub role: Option<Role>,
    /// The account, where the configuration names it (else it comes from the role's ARN, else
    /// from STS `GetCallerIdentity`).
    pub account_id: Option<String>,
}

impl Identity {
    /// The account id when it is known without asking AWS.
    pub fn known_account(&self) -> Option<&str> {
        self.account_id.as_deref().or_else(|| self.role.as_ref().map(Role::account_id))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.role, &self.profile) {
            (Some(role), Some(profile)) => write!(f, "role {} (base credentials from profile {profile})", role.arn),
            (Some(role), None) => write!(f, "role {}", role.arn),
            (None, Some(profile)) => write!(f, "profile {profile}"),
            (None, None) => f.write_str("the default credential chain"),
        }
    }
}

/// Which export tasks to collect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    pub export_ids: Vec<String>,
    pub agent_ids: Vec<String>,
}

/// How a unit collects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSettings {
    pub interval: Duration,
    pub timeout: Duration,
    /// 1..=100.
    pub page_size: i32,
    /// 1..=10.
    pub max_attempts: u32,
}

impl Default for UnitSettings {
    fn default() -> Self {
        UnitSettings {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(45),
            page_size: 100,
            max_attempts: 3,
        }
    }
}

/// A collector: one ADS operation, collected on its own (its own schedule, backoff, failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    ExportTasks,
    ContinuousExports,
    ImportTasks,
    DiscoverySummary,
    Agents,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::ExportTasks, Kind::ContinuousExports, Kind::ImportTasks, Kind::DiscoverySummary, Kind::Agents];

    /// The `collector` label value.
    pub fn label(self) -> &'static str {
        match self {
            Kind::ExportTasks => "export_tasks",
            Kind::ContinuousExports => "continuous_exports",
            Kind::ImportTasks => "import_tasks",
            Kind::DiscoverySummary => "discovery_summary",
            Kind::Agents => "agents",
        }
    }

    /// The name in flags (`--collector.NAME`) and the targets file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ExportTasks => "export-tasks",
            Kind::ContinuousExports => "continuous-exports",
            Kind::ImportTasks => "import-tasks",
            Kind::DiscoverySummary => "discovery-summary",
            Kind::Agents => "agents",
        }
    }

    /// Whether it runs unless switched off (agents page every agent: off).
    pub fn on_by_default(self) -> bool {
        self != Kind::Agents
    }

    /// The ADS operation it calls.
    pub fn operation(self) -> &'static str {
        match self {
            Kind::ExportTasks => "DescribeExportTasks",
            Kind::ContinuousExports => "DescribeContinuousExports",
            Kind::ImportTasks => "DescribeImportTasks",
            Kind::DiscoverySummary => "GetDiscoverySummary",
            Kind::Agents => "DescribeAgents",
        }
    }

    /// A collector by name (`import-tasks` or `import_tasks`).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name || k.label() == name)
    }

    /// The collectors on by default.
    pub fn defaults() -> BTreeSet<Kind> {
        Kind::ALL.into_iter().filter(|k| k.on_by_default()).collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What the configuration says about one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    pub identity: Identity,
    pub region: String,
    /// Static labels on every series of the unit.
    pub labels: BTreeMap<String, String>,
    pub settings: UnitSettings,
    pub filters: Filters,
    /// The collectors it runs.
    pub collectors: BTreeSet<Kind>,
}

impl UnitSpec {
    /// What identifies the unit whatever its labels and settings: the credentials and the
    /// region. Shards and start offsets derive from it, so they stay put when labels change.
    pub fn key(&self) -> String {
        let identity = &self.identity;
        let role = identity.role.as_ref();
        format!(
            "profile={}|role={}|external_id={}|account={}|region={}",
            identity.profile.as_deref().unwrap_or(""),
            role.map_or("", |r| r.arn.as_str()),
            role.and_then(|r| r.external_id.as_deref()).unwrap_or(""),
            identity.account_id.as_deref().unwrap_or(""),
            self.region
        )
    }

    /// A stable hash of the key (SHA-256, so the same on every machine and build).
    pub fn stable_hash(&self) -> u64 {
        hash64(&self.key())
    }

    /// The shard (of `count`) this unit belongs to.
    pub fn shard(&self, count: u32) -> u32 {
        u32::try_from(self.stable_hash() % u64::from(count.max(1))).unwrap_or(0)
    }

    /// Where in the interval a collector's collections start: a stable fraction of it, from
    /// the key and the collector, so that many units and collectors spread evenly instead of
    /// calling AWS all at once.
    pub fn start_offset(&self, kind: Kind) -> Duration {
        let hash = hash64(&format!("{}|collector={}", self.key(), kind.label()));
        let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
        self.settings.interval.mul_f64(fraction)
    }
}

/// Whether `text` is an AWS account id: twelve digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The first 8 bytes of a string's SHA-256, big-endian.
fn hash64(key: &str) -> u64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(bytes)
}

impl fmt::Display for UnitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.identity, self.region)
    }
}

/// Label names of the exporter's own, which static labels may not take; and the target labels
/// Prometheus sets, which they should not shadow.
pub const RESERVED_LABELS: &[&str] = &[
    "aws_account_id",
    "aws_region",
    "status",
    "operation",
    "code",
    "collector",
    "kind",
    "result",
    "type",
    "state",
    "health",
    "agent_type",
    "export_id",
    "status_detail",
    "data_source",
    "s3_bucket",
    "version",
    "revision",
    "rustc_version",
    "le",
    "quantile",
    "job",
    "instance",
];

/// Checks a static label name: Prometheus' rules (`[a-zA-Z_][a-zA-Z0-9_]*`, no leading `__`)
/// and none of the exporter's own names.
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("{name:?} is not a valid label name (letters, digits and _, not starting with a digit)"));
    }
    if name.starts_with("__") {
        return Err(format!("{name:?}: label names starting with __ are reserved for Prometheus"));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(format!("{name:?} is a label the exporter or Prometheus sets itself; choose another name"));
    }
    Ok(())
}

/// What one collector of a unit has published: one value, swapped whole, so that a scrape sees
/// the data and what is said about it (`ads_up`, the last success, the counts of collections)
/// from the same moment.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The last good collection; `None` until the first success.
    pub data: Option<Arc<Data>>,
    /// When the last good collection ended, in Unix seconds; 0 before the first.
    pub last_success: f64,
    /// Why the last collection failed; `None` when it succeeded (or before the first ended).
    pub last_error: Option<CollectionError>,
    /// Collections attempted, and how many failed.
    pub collections: u64,
    pub failures: u64,
    /// How long the last collection took, in seconds.
    pub duration: f64,
    /// The extra wait before the next collection after repeated failures, in seconds.
    pub backoff: f64,
}

impl Published {
    /// Whether the last collection succeeded.
    pub fn up(&self) -> bool {
        self.data.is_some() && self.last_error.is_none()
    }
}

/// What is known of a unit as a whole, whichever collector learnt it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitState {
    /// The account, once known (from the configuration, the role's ARN or STS).
    pub account_id: Option<String>,
    /// Why STS could not say whose the base credentials are, while the account is not known.
    pub identity_error: Option<ErrorCode>,
    /// Why the unit does not collect at all: it resolved to the account and region of another
    /// (named by where it is defined, `targets[0]`).
    pub refused: Option<String>,
}

/// One collector of a unit and what it published.
#[derive(Debug)]
pub struct Slot {
    pub kind: Kind,
    published: ArcSwap<Published>,
}

impl Slot {
    /// The published state, as of now.
    pub fn published(&self) -> Guard<Arc<Published>> {
        self.published.load()
    }

    /// Replaces the published state; only the slot's collector calls it.
    pub fn publish(&self, published: Published) {
        self.published.store(Arc::new(published));
        changed();
    }
}

/// A running unit: its spec, what is known of it, its collectors' published states and its API
/// counters.
#[derive(Debug)]
pub struct Unit {
    /// Unique in the process, for [`Claims`].
    pub id: u64,
    pub spec: UnitSpec,
    /// Where the configuration defines it (`targets[2]`), for messages; a reload that moves an
    /// unchanged target updates it.
    origin: ArcSwap<String>,
    /// Its place among the configuration's units: of two that collect the same account and
    /// region, the first keeps them. A reload updates it with the origin.
    rank: AtomicUsize,
    state: ArcSwap<UnitState>,
    /// One per enabled collector, in [`Kind`] order.
    pub slots: Vec<Slot>,
    pub api: Arc<ApiCounters>,
}

impl Unit {
    /// A new unit, `rank`-th among the configuration's units.
    pub fn new(spec: UnitSpec, origin: String, rank: usize) -> Arc<Unit> {
        let state = UnitState { account_id: spec.identity.known_account().map(str::to_owned), ..UnitState::default() };
        Unit::build(spec, origin, rank, state, Arc::new(ApiCounters::new()))
    }

    /// The successor of `old`, whose credentials, region and filters it has (a reload changed
    /// its labels or settings): it goes on with its API counters and what is known of its
    /// account (the collectors' published states follow when the old collectors have stopped).
    pub fn succeeding(old: &Unit, spec: UnitSpec, origin: String, rank: usize) -> Arc<Unit> {
        let known = old.state();
        let state = UnitState {
            account_id: known.account_id.clone(),
            identity_error: known.identity_error.clone(),
            refused: None,
        };
        Unit::build(spec, origin, rank, state, old.api.clone())
    }

    fn build(spec: UnitSpec, origin: String, rank: usize, state: UnitState, api: Arc<ApiCounters>) -> Arc<Unit> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let slots = spec.collectors.iter().map(|&kind| Slot { kind, published: ArcSwap::default() }).collect();
        Arc::new(Unit {
            id,
            spec,
            origin: ArcSwap::from_pointee(origin),
            rank: AtomicUsize::new(rank),
            state: ArcSwap::from_pointee(state),
            slots,
            api,
        })
    }

    /// Where the configuration defines the unit.
    pub fn origin(&self) -> Arc<String> {
        self.origin.load_full()
    }

    /// Its place among the configuration's units.
    pub fn rank(&self) -> usize {
        self.rank.load(Ordering::Relaxed)
    }

    /// The unit kept its spec but moved in the configuration.
    pub fn set_place(&self, origin: String, rank: usize) {
        self.rank.store(rank, Ordering::Relaxed);
        if *self.origin.load_full() != origin {
            self.origin.store(Arc::new(origin));
        }
    }

    /// What is known of the unit, as of now.
    pub fn state(&self) -> Guard<Arc<UnitState>> {
        self.state.load()
    }

    /// Changes what is known of the unit.
    pub fn update_state(&self, change: impl Fn(&mut UnitState)) {
        self.state.rcu(|state| {
            let mut state = UnitState::clone(state);
            change(&mut state);
            state
        });
        changed();
    }

    /// The slot of a collector.
    pub fn slot(&self, kind: Kind) -> Option<&Slot> {
        self.slots.iter().find(|s| s.kind == kind)
    }

    /// The account and region, once the account is known.
    pub fn target_id(&self) -> Option<TargetId> {
        let account_id = self.state().account_id.clone()?;
        Some(TargetId { account_id, region: self.spec.region.clone() })
    }

    /// Whether every collector has finished a first collection, successful or not (or the unit
    /// will never collect).
    pub fn settled(&self) -> bool {
        self.state().refused.is_some() || self.slots.iter().all(|s| s.published().collections > 0)
    }
}

/// Which unit collects which account and region: two units that resolve to the same pair would
/// publish the same series, so one is refused: always the later in the configuration, whichever
/// learnt its account first (so a restart, a reload or a slow STS never changes which one).
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashMap<TargetId, Arc<Unit>>>,
}

impl Claims {
    /// Claims `target` for `unit`; whether it holds it now. A unit earlier in the configuration
    /// takes the claim over from a later one, which is refused from then on; a later one is
    /// refused. A unit that becomes refused here is marked so (its state names the holder) and
    /// logged once, with what tells the two units apart.
    pub fn claim(&self, target: &TargetId, unit: &Arc<Unit>) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.get(target).cloned() {
            Some(holder) if holder.id == unit.id => {
                // It holds the claim: a refusal from before (the holder went away) is over.
                if unit.state().refused.is_some() {
                    unit.update_state(|state| state.refused = None);
                }
                true
            }
            Some(holder) if holder.rank() < unit.rank() => {
                refuse(unit, &holder, target);
                false
            }
            Some(holder) => {
                held.insert(target.clone(), unit.clone());
                if unit.state().refused.is_some() {
                    unit.update_state(|state| state.refused = None);
                }
                refuse(&holder, unit, target);
                true
            }
            None => {
                held.insert(target.clone(), unit.clone());
                if unit.state().refused.is_some() {
                    unit.update_state(|state| state.refused = None);
                }
                true
            }
        }
    }

    /// Releases whatever the unit holds.
    pub fn release(&self, unit_id: u64) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, holder| holder.id != unit_id);
    }
}

/// Marks `unit` refused because `holder` collects `target`, logging it once.
fn refuse(unit: &Unit, holder: &Unit, target: &TargetId) {
    let reason = format!("the same account and region as {}", holder.origin());
    if unit.state().refused.as_deref() == Some(reason.as_str()) {
        return;
    }
    if unit.state().refused.is_none() {
        let (origin, other) = (unit.origin(), holder.origin());
        tracing::error!(unit = %unit.spec, target = %origin, other = %other, account = %target.account_id,
            region = %target.region, differences = %differences(&holder.spec, &unit.spec),
            "refusing a unit: {origin} collects {target}, which {other} (earlier in the configuration) collects too; remove one of them");
    }
    unit.update_state(|state| state.refused = Some(reason.clone()));
}

/// What tells two units' specs apart, for the log line of a refusal: `credentials: profile a /
/// the default credential chain; labels: wave=1 / wave=2`.
pub fn differences(a: &UnitSpec, b: &UnitSpec) -> String {
    let labels = |spec: &UnitSpec| {
        let text = spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        if text.is_empty() { "none".to_owned() } else { text }
    };
    let collectors = |spec: &UnitSpec| spec.collectors.iter().map(|k| k.label()).collect::<Vec<_>>().join(",");
    let filters = |spec: &UnitSpec| format!("{:?}", spec.filters);
    let account = |spec: &UnitSpec| spec.identity.account_id.clone().unwrap_or_else(|| "from STS".to_owned());
    let mut out = Vec::new();
    let mut compare = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} / {y}"));
        }
    };
    compare("credentials", a.identity.to_string(), b.identity.to_string());
    compare("account_id", account(a), account(b));
    compare("labels", labels(a), labels(b));
    compare("collectors", collectors(a), collectors(b));
    compare("settings", format!("{:?}", a.settings), format!("{:?}", b.settings));
    compare("filters", filters(a), filters(b));
    if out.is_empty() { "nothing but their place in the configuration".to_owned() } else { out.join("; ") }
}

/// The units a process runs, swapped whole on reload, with the union of their static label
/// names: a unit without one of them gets `""`, so every series of a family has the same names.
#[derive(Debug, Default)]
pub struct UnitList {
    pub units: Vec<Arc<Unit>>,
    pub label_names: Vec<String>,
}

impl UnitList {
    pub fn new(units: Vec<Arc<Unit>>) -> UnitList {
        let names: std::collections::BTreeSet<&String> = units.iter().flat_map(|u| u.spec.labels.keys()).collect();
        let label_names = names.into_iter().cloned().collect();
        UnitList { units, label_names }
    }

    /// Whether every collector of every unit has finished a first collection, successful or
    /// not.
    pub fn settled(&self) -> bool {
        self.units.iter().all(|u| u.settled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(region: &str, role: Option<&str>) -> UnitSpec {
        UnitSpec {
            identity: Identity {
                role: role.map(|arn| Role {
                    arn: arn.to_owned(),
                    external_id: None,
                    session_name: DEFAULT_SESSION_NAME.to_owned(),
                }),
                ..Identity::default()
            },
            region: region.to_owned(),
            labels: BTreeMap::new(),
            settings: UnitSettings::default(),
            filters: Filters::default(),
            collectors: Kind::defaults(),
        }
    }

    #[test]
    fn keys_hashes_and_offsets_are_stable_and_ignore_labels() {
        let a = spec("us-west-2", Some("arn:aws:iam::111122223333:role/r"));
        let mut labelled = a.clone();
        labelled.labels.insert("wave".into(), "3".into());
        assert_eq!(a.key(), labelled.key());
        assert_eq!(a.stable_hash(), labelled.stable_hash());
        // Pinned: a change of the key or the hash moves units to other shards (and other start
        // offsets), so replicas of two versions would collect some units twice and some never.
        assert_eq!(a.key(), "profile=|role=arn:aws:iam::111122223333:role/r|external_id=|account=|region=us-west-2");
        assert_eq!(a.stable_hash(), 11_854_842_303_179_166_551);
        assert_eq!((a.shard(3), a.shard(2), a.shard(1)), (2, 1, 0));
        assert_ne!(a.stable_hash(), spec("eu-west-1", Some("arn:aws:iam::111122223333:role/r")).stable_hash());
        assert!(a.start_offset(Kind::ExportTasks) < a.settings.interval);
        assert_ne!(a.start_offset(Kind::ExportTasks), a.start_offset(Kind::ImportTasks));
        assert_eq!(a.identity.known_account(), Some("111122223333"));
        assert_eq!(spec("us-west-2", None).identity.known_account(), None);
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let offsets: Vec<f64> = (0..1000)
            .map(|i| {
                let mut s = spec("us-west-2", None);
                s.identity.profile = Some(format!("p{i}"));
                s.start_offset(Kind::ExportTasks).as_secs_f64() / 60.0
            })
            .collect();
        for decile in 0..10 {
            let low = f64::from(decile) / 10.0;
            let count = offsets.iter().filter(|&&o| o >= low && o < low + 0.1).count();
            assert!((60..=140).contains(&count), "decile {decile} holds {count} of 1000");
        }
    }

    #[test]
    fn label_names_follow_prometheus_and_avoid_the_exporters_own() {
        for good in ["programme", "wave", "_x", "a1"] {
            assert_eq!(check_label_name(good), Ok(()));
        }
        for bad in ["", "1a", "a-b", "__x", "aws_region", "status", "job", "instance", "wave "] {
            assert!(check_label_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_display_names_the_credentials_and_region() {
        let mut s = spec("eu-west-1", Some("arn:aws:iam::111122223333:role/r"));
        assert_eq!(s.to_string(), "role arn:aws:iam::111122223333:role/r in eu-west-1");
        s.identity.role = None;
        s.identity.profile = Some("sandbox".into());
        assert_eq!(s.to_string(), "profile sandbox in eu-west-1");
    }

    #[test]
    fn the_first_in_the_configuration_keeps_the_account_and_region_and_a_refusal_names_where_the_holder_is_now() {
        let claims = Claims::default();
        let target = TargetId { account_id: "111122223333".into(), region: "us-west-2".into() };
        let first = Unit::new(spec("us-west-2", None), "targets[0]".into(), 0);
        let second = Unit::new(spec("us-west-2", None), "targets[1]".into(), 1);
        // The second learnt its account first (a slow STS for the first): it holds the claim
        // until the first claims it.
        assert!(claims.claim(&target, &second));
        assert!(claims.claim(&target, &second), "a unit's own claim");
        assert!(claims.claim(&target, &first), "the first takes it over");
        assert!(first.state().refused.is_none());
        assert_eq!(second.state().refused.as_deref(), Some("the same account and region as targets[0]"));
        assert!(!claims.claim(&target, &second), "the second is refused");
        // A reload moved the holder.
        first.set_place("targets[3]".into(), 0);
        assert!(!claims.claim(&target, &second));
        assert_eq!(second.state().refused.as_deref(), Some("the same account and region as targets[3]"));
        claims.release(first.id);
        assert!(claims.claim(&target, &second));
        assert!(second.state().refused.is_none(), "it took over");
    }

    #[test]
    fn differences_say_what_tells_two_units_apart() {
        let mut a = spec("us-west-2", None);
        let mut b = spec("us-west-2", None);
        assert_eq!(differences(&a, &b), "nothing but their place in the configuration");
        a.identity.profile = Some("sandbox".into());
        b.identity.account_id = Some("111122223333".into());
        b.labels.insert("wave".into(), "2".into());
        assert_eq!(
            differences(&a, &b),
            "credentials: profile sandbox / the default credential chain; account_id: from STS / 111122223333; labels: none / wave=2"
        );
    }
}
