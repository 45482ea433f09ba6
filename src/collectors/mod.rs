//! The background collectors of a unit, one per enabled [`Kind`]: at its offset in the interval
//! and then every interval, each finds out the unit's account (once per profile), calls its ADS
//! operation (all pages), folds the answer into its [`Data`] and publishes it whole; on failure
//! it keeps the last good data and says so. Each collector of each unit runs on its own: its
//! failures, backoff and timeouts touch no other collector, and semaphores shared by all bound
//! the collections in flight.

pub mod agents;
pub mod continuous_exports;
pub mod discovery_summary;
pub mod export_tasks;
pub mod import_tasks;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_applicationdiscovery::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::aws::errors::collection_error;
use crate::aws::{CallerAccounts, UnitClients};
use crate::clock::unix_now;
use crate::data::Data;
use crate::data::export_tasks::Lifecycle;
use crate::error::{CollectionError, ErrorCode};
use crate::target::{ApiCounters, Claims, Kind, Published, TargetId, Unit};

/// The STS call that tells a unit without a role its account.
pub const IDENTITY_OPERATION: &str = "GetCallerIdentity";
/// More pages than this (ten million items) means the pages never end.
const MAX_PAGES: u64 = 100_000;

/// The extra wait before the next collection after `failures` failed collections in a row:
/// none after one failure, then about 1, 3, 7, 15... intervals, capped at `max`. `jitter` in
/// [0, 1) spreads it between half and all of that, so that collectors that failed together do
/// not retry together.
pub fn backoff(interval: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    if failures < 2 {
        return Duration::ZERO;
    }
    let factor = 2f64.powi(i32::try_from(failures - 1).unwrap_or(30).min(30)) - 1.0;
    let full = (interval.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(full * (0.5 + jitter.clamp(0.0, 1.0) / 2.0))
}

/// What one collection came to (one value per collection, moved once: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Step {
    /// The unit resolved to the account and region another unit collects: nothing published.
    Refused { account_id: String },
    Collected {
        /// The account, if known by now.
        account_id: Option<String>,
        /// Why STS could not say whose the base credentials are (the data was collected anyway).
        identity_error: Option<CollectionError>,
        result: Result<Data, CollectionError>,
    },
}

/// The bounds on collections in flight: healthy collectors and failing ones wait in pools of
/// their own, so that collectors that fail or hang cannot hold up the others beyond their first
/// failure.
#[derive(Debug, Clone)]
pub struct Pools {
    healthy: Arc<Semaphore>,
    failing: Arc<Semaphore>,
}

impl Pools {
    /// `concurrency` collections at once in each pool.
    pub fn new(concurrency: usize) -> Pools {
        Pools {
            healthy: Arc::new(Semaphore::new(concurrency.max(1))),
            failing: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

/// The account of a unit's base credentials, from STS `GetCallerIdentity`, asked once per
/// profile (the units of a profile that ask together wait for one answer).
pub async fn caller_account(
    unit: &Unit,
    clients: &UnitClients,
    accounts: &CallerAccounts,
) -> Result<String, CollectionError> {
    let Some(sts) = &clients.sts else {
        return Err(CollectionError::Invalid { operation: IDENTITY_OPERATION, detail: "no STS client".to_owned() });
    };
    let ask = || async {
        let identity =
            sts.get_caller_identity().send().await.map_err(|e| collection_error(&unit.api, IDENTITY_OPERATION, &e))?;
        match identity.account() {
            Some(account) if crate::target::is_account_id(account) => Ok(account.to_owned()),
            other => {
                unit.api.error(IDENTITY_OPERATION, &ErrorCode::Response);
                Err(CollectionError::Invalid {
                    operation: IDENTITY_OPERATION,
                    detail: format!("the answer has no 12-digit account id: {other:?}"),
                })
            }
        }
    };
    accounts.get_or_ask(unit.spec.identity.profile.as_deref(), ask).await
}

/// Refuses pages that would never end. The SDK's paginator stops silently on a repeated token,
/// which would publish a partial count as if it were whole.
pub struct PageGuard {
    operation: &'static str,
    tokens: HashSet<String>,
    pages: u64,
    max_pages: u64,
}

impl PageGuard {
    pub fn new(operation: &'static str, max_pages: u64) -> PageGuard {
        PageGuard { operation, tokens: HashSet::new(), pages: 0, max_pages }
    }

    /// One more page, with its `nextToken`: an error when the token came before, or when there
    /// are more pages than any account has.
    pub fn page(&mut self, next_token: Option<&str>) -> Result<(), CollectionError> {
        self.pages += 1;
        let Some(token) = next_token.filter(|t| !t.is_empty()) else { return Ok(()) };
        let (code, detail) = if !self.tokens.insert(token.to_owned()) {
            (ErrorCode::RepeatedToken, format!("AWS sent the nextToken {token:?} twice; the pages would never end"))
        } else if self.pages >= self.max_pages {
            (ErrorCode::TooManyPages, format!("more than {} pages; the pages would never end", self.max_pages))
        } else {
            return Ok(());
        };
        Err(CollectionError::Pagination { operation: self.operation, code, detail })
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

/// Reads every page of a paged call: `fold` takes each page into the collector's data and
/// returns its `nextToken`, or why the page breaks the API's contract. Pages that would never end
/// are refused; failures are counted under `operation`. Returns the pages read.
pub async fn read_pages<O, E>(
    operation: &'static str,
    api: &ApiCounters,
    mut pages: PaginationStream<Result<O, SdkError<E, HttpResponse>>>,
    mut fold: impl FnMut(&O) -> Result<Option<String>, String>,
) -> Result<u64, CollectionError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let mut guard = PageGuard::new(operation, MAX_PAGES);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| collection_error(api, operation, &error))?;
        let next_token = fold(&page).map_err(|detail| {
            api.error(operation, &ErrorCode::Response);
            CollectionError::Invalid { operation, detail }
        })?;
        guard.page(next_token.as_deref()).inspect_err(|error| api.error(operation, &error.code()))?;
    }
    Ok(guard.pages())
}

/// Runs one collector of one unit.
pub struct Collector {
    pub unit: Arc<Unit>,
    pub kind: Kind,
    pub clients: UnitClients,
    pub max_backoff: Duration,
    pub pools: Pools,
    pub claims: Arc<Claims>,
    /// The accounts of base credentials, shared by the units of a profile.
    pub accounts: Arc<CallerAccounts>,
    /// What export tasks the last collections saw, to recognise completions.
    pub lifecycle: Lifecycle,
}

/// Releases the unit's claim when its collector stops, however it stops.
struct ClaimGuard(Arc<Claims>, u64);

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

impl Collector {
    /// Collects after `first_delay` and then every interval until `cancel` fires. Collections
    /// never overlap: one that runs past the interval delays the next. After two or more
    /// failures in a row the next collection waits longer (see [`backoff`]). Returns the
    /// lifecycle, for a successor (a reload that changed only the unit's labels or settings).
    pub async fn run(mut self, cancel: CancellationToken, first_delay: Duration) -> Lifecycle {
        let _claim = ClaimGuard(self.claims.clone(), self.unit.id);
        let unit = self.unit.clone();
        let kind = self.kind;
        let spec = &unit.spec;
        let name = spec.to_string();
        let Some(slot) = unit.slot(kind) else { return self.lifecycle };
        // The unit's first collector speaks for the unit as a whole (its account, a refusal).
        let speaks_for_unit = unit.slots.first().is_some_and(|s| s.kind == kind);
        let mut next = tokio::time::Instant::now() + first_delay;
        let mut failures_in_a_row = 0u32;
        let mut last_code: Option<ErrorCode> = None;
        // What the unit's launch already logged about its account.
        let mut identity_code: Option<ErrorCode> = unit.state().identity_error.clone();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(next) => {}
            }
            let pool = if failures_in_a_row > 0 { &self.pools.failing } else { &self.pools.healthy };
            let permit = tokio::select! {
                () = cancel.cancelled() => break,
                permit = pool.clone().acquire_owned() => permit,
            };
            let started = tokio::time::Instant::now();
            let clock = Instant::now();
            let step = tokio::select! {
                () = cancel.cancelled() => break,
                step = self.collect() => step,
            };
            drop(permit);
            let duration = clock.elapsed().as_secs_f64();
            let previous = arc_swap::Guard::into_inner(slot.published());
            let (account_id, identity_error, result) = match step {
                Step::Refused { account_id } => {
                    // The claim marked it refused, and logged it once.
                    if unit.state().account_id.as_deref() != Some(account_id.as_str()) {
                        unit.update_state(|state| state.account_id = Some(account_id.clone()));
                    }
                    // The other may go away on a reload: look again an interval later.
                    next = started + spec.settings.interval;
                    continue;
                }
                Step::Collected { account_id, identity_error, result } => (account_id, identity_error, result),
            };
            if speaks_for_unit {
                match (&identity_error, &identity_code) {
                    (Some(error), known) if known.as_ref() != Some(&error.code()) => {
                        tracing::warn!(unit = %name, code = %error.code(), operation = error.operation().unwrap_or(""),
                            request_id = error.request_id(), error = %error,
                            "cannot learn the account of the unit from STS; its series carry aws_account_id=\"\" until STS answers");
                    }
                    (None, Some(_)) if account_id.is_some() => {
                        tracing::info!(unit = %name, account = account_id.as_deref().unwrap_or(""), "learnt the account of the unit");
                    }
                    _ => {}
                }
            }
            identity_code = identity_error.as_ref().map(CollectionError::code);
            match &result {
                Ok(data) if failures_in_a_row > 0 => {
                    tracing::info!(unit = %name, collector = %kind, failures = failures_in_a_row, found = data.total(),
                        "collection recovered");
                }
                Ok(data) if previous.data.is_none() => {
                    // At debug: a line per collector of every unit is thousands at 500 units; the
                    // exporter logs one line when all have collected once.
                    tracing::debug!(unit = %name, collector = %kind, account = account_id.as_deref().unwrap_or(""),
                        found = data.total(), pages = data.pages(), "first collection succeeded");
                }
                Ok(data) => {
                    tracing::debug!(unit = %name, collector = %kind, found = data.total(), pages = data.pages(),
                        "collection succeeded");
                }
                Err(error) => {
                    let code = error.code();
                    // One line when failures start or change, not one per failed collection.
                    if last_code.as_ref() != Some(&code) {
                        let serving = if previous.data.is_some() {
                            "collection failed; serving the last good data"
                        } else {
                            "collection failed; no collection has succeeded yet, so the collector has no data to serve"
                        };
                        tracing::warn!(unit = %name, collector = %kind, code = %code,
                            operation = error.operation().unwrap_or(""), request_id = error.request_id(), error = %error,
                            "{serving}");
                    } else {
                        tracing::debug!(unit = %name, collector = %kind, code = %code, error = %error,
                            failures = failures_in_a_row + 1, "collection failed again");
                    }
                    tracing::debug!(unit = %name, collector = %kind, detail = %error.detail(), "the failure in full");
                    if code.rejects_credentials() && self.clients.credentials_rejected() {
                        tracing::info!(unit = %name, collector = %kind, code = %code,
                            "AWS rejected the role's credentials: the next collection assumes the role again");
                    }
                }
            }
            (failures_in_a_row, last_code) = match &result {
                Ok(_) => (0, None),
                Err(error) => (failures_in_a_row.saturating_add(1), Some(error.code())),
            };
            let settings = &spec.settings;
            let extra = backoff(settings.interval, self.max_backoff, failures_in_a_row, rand::random());
            let identity_code_now = identity_error.map(|e| e.code());
            if unit.state().identity_error != identity_code_now
                || (account_id.is_some() && unit.state().account_id.is_none())
            {
                unit.update_state(|state| {
                    state.identity_error = identity_code_now.clone();
                    if state.account_id.is_none() {
                        state.account_id = account_id.clone();
                    }
                });
            }
            // One store: the data, ads_up, the counts and the backoff change together.
            let published = match result {
                Ok(data) => Published {
                    data: Some(Arc::new(data)),
                    last_success: unix_now(),
                    last_error: None,
                    collections: previous.collections + 1,
                    failures: previous.failures,
                    duration,
                    backoff: extra.as_secs_f64(),
                },
                Err(error) => Published {
                    last_error: Some(error),
                    collections: previous.collections + 1,
                    failures: previous.failures + 1,
                    duration,
                    backoff: extra.as_secs_f64(),
                    ..(*previous).clone()
                },
            };
            slot.publish(published);
            next = started + settings.interval + extra;
        }
        tracing::debug!(unit = %name, collector = %kind, "collector stopped");
        self.lifecycle
    }

    /// One collection within the unit's timeout: the account first, if it is not known yet (at
    /// most half the timeout: without it the data is still collected, labelled with an empty
    /// account), then the claim on the account and region, then the operation.
    async fn collect(&mut self) -> Step {
        let timeout = self.unit.spec.settings.timeout;
        let started = tokio::time::Instant::now();
        let (account_id, identity_error) = match self.unit.state().account_id.clone() {
            Some(account_id) => (Some(account_id), None),
            None => {
                match tokio::time::timeout_at(
                    started + timeout / 2,
                    caller_account(&self.unit, &self.clients, &self.accounts),
                )
                .await
                {
                    Ok(Ok(account_id)) => (Some(account_id), None),
                    Ok(Err(error)) => (None, Some(error)),
                    Err(_elapsed) => (None, Some(CollectionError::Timeout(timeout / 2))),
                }
            }
        };
        if let Some(account_id) = &account_id {
            let target = TargetId { account_id: account_id.clone(), region: self.unit.spec.region.clone() };
            if !self.claims.claim(&target, &self.unit) {
                return Step::Refused { account_id: account_id.clone() };
            }
        }
        let (unit, clients) = (&self.unit, &self.clients);
        let work = async {
            match self.kind {
                Kind::ExportTasks => {
                    export_tasks::collect(&clients.ads, unit, &mut self.lifecycle).await.map(Data::ExportTasks)
                }
                Kind::ContinuousExports => {
                    continuous_exports::collect(&clients.ads, unit).await.map(Data::ContinuousExports)
                }
                Kind::ImportTasks => import_tasks::collect(&clients.ads, unit).await.map(Data::ImportTasks),
                Kind::DiscoverySummary => {
                    discovery_summary::collect(&clients.ads, unit).await.map(Data::DiscoverySummary)
                }
                Kind::Agents => agents::collect(&clients.ads, unit).await.map(Data::Agents),
            }
        };
        let result = match tokio::time::timeout_at(started + timeout, work).await {
            Ok(result) => result,
            Err(_elapsed) => Err(CollectionError::Timeout(timeout)),
        };
        Step::Collected { account_id, identity_error, result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATION: &str = "DescribeExportTasks";

    #[test]
    fn pages_that_never_end_are_refused_with_their_own_codes() {
        let mut guard = PageGuard::new(OPERATION, 3);
        assert_eq!(guard.page(Some("a")), Ok(()));
        assert_eq!(guard.page(Some("b")), Ok(()));
        let error = guard.page(Some("c")).unwrap_err();
        assert_eq!(error.code(), ErrorCode::TooManyPages);
        assert!(error.to_string().contains("more than 3 pages"), "{error}");

        let mut guard = PageGuard::new(OPERATION, 100);
        assert_eq!(guard.page(Some("a")), Ok(()));
        assert_eq!(guard.page(Some("")), Ok(()), "an empty token ends the pages");
        assert_eq!(guard.page(Some("a")).unwrap_err().code(), ErrorCode::RepeatedToken);
        assert_eq!(PageGuard::new(OPERATION, 1).page(None), Ok(()), "the last page");
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let minute = Duration::from_secs(60);
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(minute, cap, 0, 0.5), Duration::ZERO);
        assert_eq!(backoff(minute, cap, 1, 0.5), Duration::ZERO);
        assert_eq!(backoff(minute, cap, 2, 1.0), minute);
        assert_eq!(backoff(minute, cap, 2, 0.0), minute / 2);
        assert_eq!(backoff(minute, cap, 3, 1.0), minute * 3);
        assert_eq!(backoff(minute, cap, 4, 1.0), cap);
        assert_eq!(backoff(minute, cap, 1_000, 1.0), cap);
        assert_eq!(backoff(minute, cap, 1_000, 0.0), cap / 2);
    }
}
