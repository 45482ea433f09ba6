//! The background collector of one unit: at its offset in the interval and then every interval,
//! find out its account (once), page through all export tasks, fold them into an [`Aggregate`]
//! and publish it whole; on failure keep the last good one and say so. Each unit runs on its own:
//! its failures, backoff and timeouts touch no other unit, and a semaphore shared by all bounds
//! the collections in flight.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_applicationdiscovery::types::ExportFilter;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Aggregate;
use crate::aws::errors::collection_error;
use crate::aws::{CallerAccounts, UnitClients};
use crate::clock::unix_now;
use crate::error::{CollectionError, ErrorCode};
use crate::target::{Claims, Holder, Published, TargetId, Unit};

/// The operation the collector pages.
pub const OPERATION: &str = "DescribeExportTasks";
const IDENTITY_OPERATION: &str = "GetCallerIdentity";
/// More pages than this (ten million tasks) means the pages never end.
const MAX_PAGES: u64 = 100_000;

/// The extra wait before the next collection after `failures` failed collections in a row:
/// none after one failure, then about 1, 3, 7, 15... intervals, capped at `max`. `jitter` in
/// [0, 1) spreads it between half and all of that, so that units that failed together do not
/// retry together.
pub fn backoff(interval: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    if failures < 2 {
        return Duration::ZERO;
    }
    let factor = 2f64.powi(i32::try_from(failures - 1).unwrap_or(30).min(30)) - 1.0;
    let full = (interval.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(full * (0.5 + jitter.clamp(0.0, 1.0) / 2.0))
}

/// What one collection came to.
enum Step {
    /// The unit resolved to the account and region another unit collects: it published nothing.
    Refused { account_id: String, holder: Holder },
    Collected {
        /// The account, if known by now.
        account_id: Option<String>,
        /// Why STS could not say whose the base credentials are (the data was collected anyway).
        identity_error: Option<CollectionError>,
        result: Result<Aggregate, CollectionError>,
    },
}

/// The bounds on collections in flight: healthy units and failing ones wait in pools of their
/// own, so that units that fail or hang cannot hold up the others beyond their first failure.
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
        let identity = sts.get_caller_identity().send().await.map_err(|e| collection_error(IDENTITY_OPERATION, &e))?;
        match identity.account() {
            Some(account) if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(account.to_owned())
            }
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
}

/// Runs one unit's collections.
pub struct Collector {
    pub unit: Arc<Unit>,
    pub clients: UnitClients,
    pub max_backoff: Duration,
    pub pools: Pools,
    pub claims: Arc<Claims>,
    /// The accounts of base credentials, shared by the units of a profile.
    pub accounts: Arc<CallerAccounts>,
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
    /// failures in a row the next collection waits longer (see [`backoff`]).
    pub async fn run(self, cancel: CancellationToken, first_delay: Duration) {
        let _claim = ClaimGuard(self.claims.clone(), self.unit.id);
        let spec = &self.unit.spec;
        let unit = spec.to_string();
        let mut next = tokio::time::Instant::now() + first_delay;
        let mut failures_in_a_row = 0u32;
        let mut last_code: Option<ErrorCode> = None;
        let mut identity_code: Option<ErrorCode> = None;
        let mut refused_logged = false;
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
            let previous = arc_swap::Guard::into_inner(self.unit.published());
            let (account_id, identity_error, result) = match step {
                Step::Refused { account_id, holder } => {
                    if !refused_logged {
                        let origin = self.unit.origin();
                        tracing::error!(%unit, target = %origin, other = %holder.description,
                            "refusing a unit: {unit} ({origin}) collects account {account_id} in {}, which {} already collects; remove one of them",
                            spec.region, holder.description);
                        refused_logged = true;
                    }
                    self.unit.publish(Published {
                        account_id: Some(account_id),
                        refused: Some(format!("the same account and region as {}", holder.origin)),
                        collections: previous.collections,
                        ..Published::default()
                    });
                    // The other may go away on a reload: look again an interval later.
                    next = started + spec.settings.interval;
                    continue;
                }
                Step::Collected { account_id, identity_error, result } => (account_id, identity_error, result),
            };
            refused_logged = false;

            match (&identity_error, &identity_code) {
                (Some(error), known) if known.as_ref() != Some(&error.code()) => {
                    tracing::warn!(%unit, code = %error.code(), operation = error.operation().unwrap_or(""),
                        request_id = error.request_id(), error = %error,
                        "cannot learn the account of the unit from STS; its series carry aws_account_id=\"\" until STS answers");
                }
                (None, Some(_)) if account_id.is_some() => {
                    tracing::info!(%unit, account = account_id.as_deref().unwrap_or(""), "learnt the account of the unit");
                }
                _ => {}
            }
            identity_code = identity_error.as_ref().map(CollectionError::code);
            match &result {
                Ok(aggregate) if failures_in_a_row > 0 => {
                    tracing::info!(%unit, failures = failures_in_a_row, tasks = aggregate.total(), "collection recovered");
                }
                Ok(aggregate) if previous.last_good.is_none() => {
                    tracing::info!(%unit, account = account_id.as_deref().unwrap_or(""), tasks = aggregate.total(),
                        pages = aggregate.pages, "first collection succeeded");
                }
                Ok(aggregate) => {
                    tracing::debug!(%unit, tasks = aggregate.total(), pages = aggregate.pages, "collection succeeded");
                }
                Err(error) => {
                    let code = error.code();
                    // One line when failures start or change, not one per failed collection.
                    if last_code.as_ref() != Some(&code) {
                        tracing::warn!(%unit, code = %code, operation = error.operation().unwrap_or(""),
                            request_id = error.request_id(), error = %error,
                            "collection failed; serving the last good data");
                    } else {
                        tracing::debug!(%unit, code = %code, error = %error, failures = failures_in_a_row + 1,
                            "collection failed again");
                    }
                    tracing::debug!(%unit, detail = %error.detail(), "the failure in full");
                }
            }
            (failures_in_a_row, last_code) = match &result {
                Ok(_) => (0, None),
                Err(error) => (failures_in_a_row.saturating_add(1), Some(error.code())),
            };
            let settings = &spec.settings;
            let extra = backoff(settings.interval, self.max_backoff, failures_in_a_row, rand::random());
            let identity_error = identity_error.map(|e| e.code());
            // One store: the data, ads_up, the counts and the backoff change together.
            let published = match result {
                Ok(aggregate) => Published {
                    account_id,
                    last_good: Some(Arc::new(aggregate)),
                    last_success: unix_now(),
                    last_error: None,
                    collections: previous.collections + 1,
                    failures: previous.failures,
                    duration,
                    backoff: extra.as_secs_f64(),
                    identity_error,
                    refused: None,
                },
                Err(error) => Published {
                    account_id,
                    last_error: Some(error),
                    collections: previous.collections + 1,
                    failures: previous.failures + 1,
                    duration,
                    backoff: extra.as_secs_f64(),
                    identity_error,
                    refused: None,
                    ..(*previous).clone()
                },
            };
            self.unit.publish(published);
            next = started + settings.interval + extra;
        }
        tracing::debug!(%unit, "collector stopped");
    }

    /// One collection within the unit's timeout: the account first, if it is not known yet (at
    /// most half the timeout: without it the data is still collected, labelled with an empty
    /// account), then the claim on the account and region, then the pages.
    async fn collect(&self) -> Step {
        let timeout = self.unit.spec.settings.timeout;
        let started = tokio::time::Instant::now();
        let (account_id, identity_error) = match self.unit.published().account_id.clone() {
            Some(account_id) => (Some(account_id), None),
            None => match tokio::time::timeout_at(started + timeout / 2, self.caller_account()).await {
                Ok(Ok(account_id)) => (Some(account_id), None),
                Ok(Err(error)) => (None, Some(error)),
                Err(_elapsed) => (None, Some(CollectionError::Timeout(timeout / 2))),
            },
        };
        if let Some(account_id) = &account_id {
            let target = TargetId { account_id: account_id.clone(), region: self.unit.spec.region.clone() };
            if let Err(holder) = self.claims.claim(&target, &self.unit) {
                return Step::Refused { account_id: account_id.clone(), holder };
            }
        }
        let result = match tokio::time::timeout_at(started + timeout, self.export_tasks()).await {
            Ok(result) => result,
            Err(_elapsed) => Err(CollectionError::Timeout(timeout)),
        };
        Step::Collected { account_id, identity_error, result }
    }

    /// The account of the unit's base credentials, from STS `GetCallerIdentity`, asked once per
    /// profile.
    async fn caller_account(&self) -> Result<String, CollectionError> {
        caller_account(&self.unit, &self.clients, &self.accounts).await
    }

    /// Pages through every export task the filters select.
    async fn export_tasks(&self) -> Result<Aggregate, CollectionError> {
        let spec = &self.unit.spec;
        let filters = if spec.filters.agent_ids.is_empty() {
            None
        } else {
            let filter = ExportFilter::builder()
                .name("agentIds")
                .set_values(Some(spec.filters.agent_ids.clone()))
                .condition("EQUALS")
                .build()
                .map_err(|e| CollectionError::Request { operation: OPERATION, detail: e.to_string() })?;
            Some(vec![filter])
        };
        let export_ids = (!spec.filters.export_ids.is_empty()).then(|| spec.filters.export_ids.clone());
        let mut pages = self
            .clients
            .ads
            .describe_export_tasks()
            .max_results(spec.settings.page_size)
            .set_export_ids(export_ids)
            .set_filters(filters)
            .into_paginator()
            .send();
        let mut aggregate = Aggregate::default();
        // The SDK's paginator stops silently on a repeated token, which would publish a partial
        // count as if it were whole: refuse it instead.
        let mut guard = PageGuard::new(OPERATION, MAX_PAGES);
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| collection_error(OPERATION, &error))?;
            if let Err(detail) = aggregate.add_page(page.exports_info()) {
                self.unit.api.error(OPERATION, &ErrorCode::Response);
                return Err(CollectionError::Invalid { operation: OPERATION, detail });
            }
            if let Err(error) = guard.page(page.next_token()) {
                self.unit.api.error(OPERATION, &error.code());
                return Err(error);
            }
        }
        Ok(aggregate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
