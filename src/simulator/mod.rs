//! A simulator of the AWS Application Discovery Service API, for demo mode and tests.
//!
//! It is a real HTTP server speaking AWS JSON 1.1 as ADS does (see `../shared/ads-api.md` in the
//! project's docs): `DescribeExportTasks` with paging, `exportIds` and `agentIds` filters and
//! `maxResults` (1 to 100; larger values are capped at 100), epoch-number timestamps;
//! `StartExportTask` with the home-region check and the five-running-agent-exports limit; the
//! modeled errors with their status codes. SigV4 signatures are not verified, but a request must
//! carry an `Authorization` header scoped to `discovery` (or `sts`).
//!
//! It is many accounts in many regions: an ADS call is answered from the population of the
//! account its credentials belong to (static keys map to an account, [`DEFAULT_ACCOUNT`] unless
//! registered) and the region of its SigV4 scope; an account and region without a population of
//! its own share the default one. It serves STS too ([`sts`]): `AssumeRole` hands out temporary
//! credentials of the role's account, and `GetCallerIdentity` says whose credentials signed.
//!
//! Tests and the `simulate` subcommand can inject [`Fault`]s (globally, or per account and
//! region) and inspect the requests served.

pub mod faults;
pub mod model;
pub mod pipeline;
pub mod sts;
pub mod wire;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::unix_now as now;

pub use faults::{Fault, FaultPlan, STS_ERRORS, Schedule};
pub use model::{Evolution, FAILED, IN_PROGRESS, Population, SUCCEEDED, Task};
use sts::StsError;
use wire::{ApiError, DescribeExportTasksRequest, DescribeExportTasksResponse, ExportFilter, ExportInfo};

/// The most tasks one `DescribeExportTasks` page holds.
pub const MAX_PAGE_SIZE: usize = 100;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const RECORDED_REQUESTS: usize = 1024;
/// The `nextToken` of [`Fault::RepeatToken`].
const REPEATED_TOKEN: &str = "repeat";
/// The account of static access keys that were not registered with [`Simulator::add_access_key`].
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// How the simulated account behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The Migration Hub home region: write calls signed for another region fail with
    /// `HomeRegionNotSetException`.
    pub home_region: String,
    /// How the population changes over time; `None` keeps it still.
    pub evolution: Option<Evolution>,
    /// Seed of the random choices (evolution, probabilistic faults).
    pub seed: u64,
    /// Let any caller assume any role (demo mode and `simulate`); otherwise only roles allowed
    /// with [`Simulator::allow_role`].
    pub any_role: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig { home_region: "us-west-2".to_owned(), evolution: None, seed: 0, any_role: false }
    }
}

/// One request the simulator answered (or refused), as tests want to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub operation: String,
    /// The region of the request's SigV4 credential scope.
    pub region: String,
    /// The account whose credentials signed it.
    pub account: String,
    /// The access key id that signed it.
    pub access_key_id: String,
    pub max_results: Option<i64>,
    pub export_ids: Vec<String>,
    pub agent_ids: Vec<String>,
    pub next_token: Option<String>,
}

/// The export tasks of one account in one region.
struct Account {
    population: Population,
    rng: StdRng,
    evolved_at: f64,
}

impl Account {
    fn new(population: Population, seed: u64) -> Account {
        Account { population, rng: StdRng::seed_from_u64(seed), evolved_at: now() }
    }
}

/// Temporary credentials handed out by `AssumeRole`.
struct Session {
    account: String,
    role_arn: String,
    session_name: String,
    token: String,
    expires: f64,
}

/// The unique id of a role (`AROA` and 17 characters), the same for every session of it, as
/// AWS has it: derived from the role's ARN.
fn role_id(arn: &str) -> String {
    unique_id("AROA", arn)
}

/// A unique id of IAM's (`AROA`, `AIDA`, and 17 characters) derived from `of`: never `of` itself
/// (a user's id is not its access key id).
fn unique_id(prefix: &str, of: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, of.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("{prefix}{}", &hex[..17])
}

/// Who signed a request.
#[derive(Debug, Clone)]
struct Caller {
    access_key_id: String,
    account: String,
    arn: String,
    user_id: String,
}

struct State {
    /// Answers for every account and region without a population of its own.
    default: Account,
    accounts: HashMap<(String, String), Account>,
    access_keys: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    /// Role ARN to the external id it requires (if any).
    roles: HashMap<String, Option<String>>,
    /// Roles that no one may assume.
    denied_roles: std::collections::HashSet<String>,
    global_fault: Option<FaultPlan>,
    faults: HashMap<(String, String), FaultPlan>,
    sts_fault: Option<FaultPlan>,
    rng: StdRng,
    requests: VecDeque<RecordedRequest>,
    received: u64,
}

impl State {
    fn account(&mut self, account: &str, region: &str) -> &mut Account {
        match self.accounts.get_mut(&(account.to_owned(), region.to_owned())) {
            Some(_) => self.accounts.get_mut(&(account.to_owned(), region.to_owned())).expect("present"),
            None => &mut self.default,
        }
    }
}

/// The simulated ADS service; share it with `Arc` between its server and a test.
pub struct Simulator {
    config: SimulatorConfig,
    state: Mutex<State>,
    /// Bumped on every change of a fault, to release requests waiting on a slow one.
    fault_changed: watch::Sender<u64>,
    /// ADS calls being answered now, and the most at once.
    in_flight: InFlightCounts,
}

impl Simulator {
    /// A simulator whose every account and region answers from `population`, until accounts
    /// get their own with [`Simulator::add_account`].
    pub fn new(population: Population, config: SimulatorConfig) -> Arc<Simulator> {
        let state = State {
            default: Account::new(population, config.seed),
            accounts: HashMap::new(),
            access_keys: HashMap::new(),
            sessions: HashMap::new(),
            roles: HashMap::new(),
            denied_roles: Default::default(),
            global_fault: None,
            faults: HashMap::new(),
            sts_fault: None,
            rng: StdRng::seed_from_u64(config.seed.wrapping_add(1)),
            requests: VecDeque::new(),
            received: 0,
        };
        Arc::new(Simulator {
            config,
            state: Mutex::new(state),
            fault_changed: watch::Sender::new(0),
            in_flight: InFlightCounts::default(),
        })
    }

    /// A simulator of a plausible account ([`Population::demo`] with `history` finished exports),
    /// its random choices seeded by `config.seed`.
    pub fn demo(history: usize, config: SimulatorConfig) -> Arc<Simulator> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let evolution = config.evolution.clone().unwrap_or_default();
        let population = Population::demo(history, now(), &evolution, &mut rng);
        Simulator::new(population, config)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the population half-changed in a way that
        // matters to a simulator, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives an account its own population in a region.
    pub fn add_account(&self, account: &str, region: &str, population: Population) {
        let seed = self.config.seed ^ seed_of(account) ^ seed_of(region).rotate_left(17);
        self.state().accounts.insert((account.to_owned(), region.to_owned()), Account::new(population, seed));
    }

    /// Static credentials of an account: requests signed with this access key id belong to it.
    pub fn add_access_key(&self, access_key_id: &str, account: &str) {
        self.state().access_keys.insert(access_key_id.to_owned(), account.to_owned());
    }

    /// Lets callers assume a role (`arn:aws:iam::ACCOUNT:role/NAME`), with an external id if
    /// one is given.
    pub fn allow_role(&self, arn: &str, external_id: Option<&str>) {
        self.state().roles.insert(arn.to_owned(), external_id.map(str::to_owned));
    }

    /// Refuses every `AssumeRole` of `arn` with `AccessDenied`, as a trust policy that does not
    /// name the caller does.
    pub fn deny_role(&self, arn: &str) {
        self.state().denied_roles.insert(arn.to_owned());
    }

    /// Injects a fault for every ADS call (or clears it with `None`); requests waiting on a slow
    /// fault are released.
    pub fn set_fault(&self, plan: Option<FaultPlan>) {
        self.state().global_fault = plan;
        self.fault_changed.send_modify(|n| *n += 1);
    }

    /// Injects a fault for the ADS calls of one account in one region (before the global one).
    pub fn set_fault_for(&self, account: &str, region: &str, plan: Option<FaultPlan>) {
        let key = (account.to_owned(), region.to_owned());
        match plan {
            Some(plan) => self.state().faults.insert(key, plan),
            None => self.state().faults.remove(&key),
        };
        self.fault_changed.send_modify(|n| *n += 1);
    }

    /// Injects a fault for every STS call.
    pub fn set_sts_fault(&self, plan: Option<FaultPlan>) {
        self.state().sts_fault = plan;
        self.fault_changed.send_modify(|n| *n += 1);
    }

    /// Forgets every session it issued, as a restart would (or, on AWS, revoking a role's
    /// sessions): their credentials are refused from now on, as never issued.
    pub fn forget_sessions(&self) {
        self.state().sessions.clear();
    }

    /// The most recent requests, oldest first (at most 1,024 are kept).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.iter().cloned().collect()
    }

    /// The most recent requests of one operation.
    pub fn requests_of(&self, operation: &str) -> Vec<RecordedRequest> {
        self.state().requests.iter().filter(|r| r.operation == operation).cloned().collect()
    }

    /// The most ADS calls that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many requests arrived since the simulator started, answered or not yet.
    pub fn received(&self) -> u64 {
        self.state().received
    }

    /// Runs `f` on the default population, for tests that change or inspect it.
    pub fn with_population<R>(&self, f: impl FnOnce(&mut Population) -> R) -> R {
        f(&mut self.state().default.population)
    }

    /// Runs `f` on the population of an account in a region (the default one if it has none).
    pub fn with_account<R>(&self, account: &str, region: &str, f: impl FnOnce(&mut Population) -> R) -> R {
        f(&mut self.state().account(account, region).population)
    }

    /// Serves the API on `listener` until `shutdown` completes.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let handler = move |request| {
            let simulator = self.clone();
            async move { simulator.handle(request).await }
        };
        crate::web::serve::serve(listener, None, handler, crate::web::serve::Limits::default(), shutdown).await;
    }

    /// Binds `addr` and serves in a background task; dropping the returned handle stops it.
    pub async fn spawn(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let simulator = self.clone();
        tokio::spawn(simulator.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(RunningSimulator { addr, _stop: stop })
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Either<Full<Bytes>, wire::DroppingBody>> {
        let request_id = format!("{:032x}", rand::random::<u128>());
        let response = match self.answer(request, &request_id).await {
            Ok(body) => wire::json_response(StatusCode::OK, body, &request_id),
            Err(Answer::Error(error)) => error.into_response(&request_id),
            Err(Answer::Sts(error)) => error.into_response(&request_id),
            Err(Answer::Raw(response)) => *response,
            Err(Answer::Drop(body)) => {
                let length = body.len();
                let (mut parts, _) = wire::json_response(StatusCode::OK, Bytes::new(), &request_id).into_parts();
                parts.headers.insert(hyper::header::CONTENT_LENGTH, length.into());
                return Response::from_parts(parts, Either::Right(wire::DroppingBody::new(body.slice(..length / 2))));
            }
        };
        response.map(Either::Left)
    }

    async fn answer(&self, request: Request<Incoming>, request_id: &str) -> Result<Bytes, Answer> {
        self.state().received += 1;
        if request.method() != Method::POST || request.uri().path() != "/" {
            return Err(ApiError::new(404, "UnknownOperationException", "ADS is served as POST /").into());
        }
        let headers = request.headers();
        let authorization = headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(authorization) = authorization else {
            return Err(
                ApiError::new(403, "MissingAuthenticationTokenException", "Missing Authentication Token").into()
            );
        };
        let scope = wire::credential_scope(authorization).ok_or_else(|| {
            ApiError::new(403, "IncompleteSignatureException", "Authorization header is not a valid SigV4 header")
        })?;
        let (access_key_id, region, service) =
            (scope.access_key_id.to_owned(), scope.region.to_owned(), scope.service.to_owned());
        let token = headers.get("x-amz-security-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if service == "sts" {
            let body = read_body(request.into_body()).await.map_err(|e| StsError::validation(e.message))?;
            return Err(self.sts(&body, &access_key_id, token.as_deref(), region, request_id).await);
        }
        if service != "discovery" {
            let message = format!("Credential should be scoped to correct service: 'discovery', not '{service}'");
            return Err(ApiError::new(403, "InvalidSignatureException", message).into());
        }
        let operation = target
            .as_deref()
            .and_then(|target| target.strip_prefix(wire::TARGET_PREFIX))
            .ok_or_else(|| ApiError::new(400, "UnknownOperationException", "missing or unknown X-Amz-Target"))?
            .to_owned();
        let caller = self
            .caller(&access_key_id, token.as_deref())
            .map_err(|e| ApiError::new(e.status, e.ads_code, e.message))?;
        let body = read_body(request.into_body()).await?;
        let _in_flight = InFlight::enter(&self.in_flight);

        let shape = match self.draw_fault(Some((&caller.account, &region)), &operation) {
            Some(fault) => self.inject(fault).await?,
            None => None,
        };
        match operation.as_str() {
            "DescribeContinuousExports" | "DescribeImportTasks" | "GetDiscoverySummary" | "DescribeAgents" => {
                let body = self.pipeline(&operation, &body, &caller, region, shape.as_ref())?;
                if shape == Some(Fault::Drop) {
                    return Err(Answer::Drop(body));
                }
                Ok(body)
            }
            "DescribeExportTasks" => {
                let input: DescribeExportTasksRequest = parse_body(&body)?;
                let body = self.describe_export_tasks(input, &caller, region, shape.as_ref())?;
                if shape == Some(Fault::Drop) {
                    return Err(Answer::Drop(body));
                }
                Ok(body)
            }
            "StartExportTask" => {
                let input: wire::StartExportTaskRequest = parse_body(&body)?;
                Ok(self.start_export_task(input, &caller, region)?)
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}")).into()),
        }
    }

    /// Who signed: the session of temporary credentials (whose token must match and must not
    /// have expired), or the account of static credentials.
    fn caller(&self, access_key_id: &str, token: Option<&str>) -> Result<Caller, CallerError> {
        let state = self.state();
        if let Some(session) = state.sessions.get(access_key_id) {
            if token != Some(session.token.as_str()) {
                return Err(CallerError::invalid_token());
            }
            if session.expires <= now() {
                return Err(CallerError {
                    status: 400,
                    ads_code: "ExpiredTokenException",
                    sts_code: "ExpiredToken",
                    message: "The security token included in the request is expired".to_owned(),
                });
            }
            let role_name = session.role_arn.rsplit('/').next().unwrap_or_default();
            return Ok(Caller {
                access_key_id: access_key_id.to_owned(),
                account: session.account.clone(),
                arn: format!("arn:aws:sts::{}:assumed-role/{role_name}/{}", session.account, session.session_name),
                user_id: format!("{}:{}", role_id(&session.role_arn), session.session_name),
            });
        }
        if access_key_id.starts_with("ASIA") || token.is_some() {
            // Temporary credentials this simulator never issued.
            return Err(CallerError::invalid_token());
        }
        let account = state.access_keys.get(access_key_id).cloned().unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
        Ok(Caller {
            access_key_id: access_key_id.to_owned(),
            arn: format!("arn:aws:iam::{account}:user/simulated"),
            user_id: unique_id("AIDA", access_key_id),
            account,
        })
    }

    /// Answers an STS call (query protocol in, XML out).
    async fn sts(
        &self,
        body: &[u8],
        access_key_id: &str,
        token: Option<&str>,
        region: String,
        request_id: &str,
    ) -> Answer {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
        let caller = match self.caller(access_key_id, token) {
            Ok(caller) => caller,
            Err(e) => return StsError::new(e.status, e.sts_code, e.message).into(),
        };
        let action = form.get("Action").cloned().unwrap_or_default();
        if let Some(fault) = self.draw_fault(None, &action) {
            match fault.sts_error() {
                Some(error) => return error.into(),
                None => match self.inject(fault).await {
                    Ok(_) => {}
                    Err(answer) => return answer,
                },
            }
        }
        if form.get("Version").map(String::as_str) != Some(sts::VERSION) {
            return StsError::new(
                400,
                "InvalidAction",
                format!("Could not find operation {action} for version {:?}", form.get("Version")),
            )
            .into();
        }
        {
            let mut state = self.state();
            self.record(
                &mut state,
                RecordedRequest {
                    operation: action.clone(),
                    region,
                    account: caller.account.clone(),
                    access_key_id: caller.access_key_id.clone(),
                    max_results: None,
                    export_ids: Vec::new(),
                    agent_ids: Vec::new(),
                    next_token: None,
                },
            );
        }
        match action.as_str() {
            "GetCallerIdentity" => Answer::Raw(Box::new(sts::caller_identity_response(
                &caller.user_id,
                &caller.account,
                &caller.arn,
                request_id,
            ))),
            "AssumeRole" => match self.assume_role(&form, &caller, request_id) {
                Ok(response) => Answer::Raw(Box::new(response)),
                Err(error) => error.into(),
            },
            other => {
                StsError::new(400, "InvalidAction", format!("Could not find operation {other} for version 2011-06-15"))
                    .into()
            }
        }
    }

    fn assume_role(
        &self,
        form: &HashMap<String, String>,
        caller: &Caller,
        request_id: &str,
    ) -> Result<Response<Full<Bytes>>, StsError> {
        let missing = |name: &str| {
            StsError::validation(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
            ))
        };
        let arn = form.get("RoleArn").ok_or_else(|| missing("roleArn"))?;
        let session_name = form.get("RoleSessionName").ok_or_else(|| missing("roleSessionName"))?;
        let valid_name = (2..=64).contains(&session_name.len())
            && session_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !valid_name {
            return Err(StsError::validation(format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        let duration = match form.get("DurationSeconds") {
            None => 3600.0,
            Some(text) => match text.parse::<u32>() {
                Ok(seconds @ 900..=43_200) => f64::from(seconds),
                _ => {
                    return Err(StsError::validation(format!(
                        "1 validation error detected: Value '{text}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
                    )));
                }
            },
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let account = match parts.as_slice() {
            ["arn", _, "iam", "", account, resource]
                if account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource.starts_with("role/") =>
            {
                (*account).to_owned()
            }
            _ => return Err(StsError::validation(format!("{arn} is invalid"))),
        };
        let mut state = self.state();
        let allowed = !state.denied_roles.contains(arn.as_str())
            && match state.roles.get(arn.as_str()) {
                Some(Some(external_id)) => form.get("ExternalId") == Some(external_id),
                Some(None) => true,
                None => self.config.any_role,
            };
        if !allowed {
            return Err(StsError::access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {arn}",
                caller.arn
            )));
        }
        let random = |n: usize, rng: &mut StdRng| -> String {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            (0..n).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
        };
        let credentials = sts::IssuedCredentials {
            access_key_id: format!("ASIA{}", random(16, &mut state.rng)),
            secret_access_key: random(40, &mut state.rng),
            session_token: random(64, &mut state.rng),
            expiration: now() + duration,
        };
        // Forget sessions that expired an hour ago: a long demo asks for new ones every hour.
        let now = now();
        state.sessions.retain(|_, session| session.expires > now - 3_600.0);
        state.sessions.insert(
            credentials.access_key_id.clone(),
            Session {
                account: account.clone(),
                role_arn: arn.clone(),
                session_name: session_name.clone(),
                token: credentials.session_token.clone(),
                expires: credentials.expiration,
            },
        );
        let role_name = arn.rsplit('/').next().unwrap_or_default();
        Ok(sts::assume_role_response(
            &credentials,
            &format!("{}:{session_name}", role_id(arn)),
            &format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
            request_id,
        ))
    }

    /// The active fault of an ADS call of `account` in `region` (or, with `None`, of an STS
    /// call), if it applies to this request; counts it down.
    fn draw_fault(&self, scope: Option<(&str, &str)>, operation: &str) -> Option<Fault> {
        let mut state = self.state();
        let State { global_fault, faults, sts_fault, rng, .. } = &mut *state;
        if let Some((account, region)) = scope {
            let key = (account.to_owned(), region.to_owned());
            if let Some(plan) = faults.get_mut(&key).filter(|plan| plan.applies_to(operation)) {
                let (fault, used_up) = apply(plan, rng);
                if used_up {
                    faults.remove(&key);
                }
                return fault;
            }
        }
        let slot = if scope.is_some() { global_fault } else { sts_fault };
        let plan = slot.as_mut().filter(|plan| plan.applies_to(operation))?;
        let (fault, used_up) = apply(plan, rng);
        if used_up {
            *slot = None;
        }
        fault
    }

    /// Answers with the fault's error, or waits; returns the faults that shape a normal answer.
    async fn inject(&self, fault: Fault) -> Result<Option<Fault>, Answer> {
        if let Some(error) = fault.error() {
            return Err(error.into());
        }
        match fault {
            Fault::Http(status) => {
                let mut response =
                    Response::new(Full::new(Bytes::from_static(b"<html><body>Bad Gateway</body></html>")));
                *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/html"));
                Err(Answer::Raw(Box::new(response)))
            }
            Fault::Slow(delay) => {
                let mut changed = self.fault_changed.subscribe();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = changed.changed() => {}
                }
                Ok(None)
            }
            Fault::Malformed => {
                let mut response =
                    Response::new(Full::new(Bytes::from_static(b"{\"exportsInfo\": [{\"exportId\": \"export-")));
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(wire::CONTENT_TYPE));
                Err(Answer::Raw(Box::new(response)))
            }
            Fault::Drop
            | Fault::RepeatToken
            | Fault::MissingFields
            | Fault::MissingStatus
            | Fault::Oversize
            | Fault::ShiftedPages => Ok(Some(fault)),
            Fault::Throttle | Fault::Error(_) => Ok(None),
        }
    }

    fn record(&self, state: &mut State, request: RecordedRequest) {
        if state.requests.len() == RECORDED_REQUESTS {
            state.requests.pop_front();
        }
        state.requests.push_back(request);
    }

    /// The account's population in `region`, moved on to now.
    fn evolved<'a>(&self, state: &'a mut State, account: &str, region: &str) -> &'a mut Account {
        let now = now();
        let evolution = self.config.evolution.as_ref();
        let account = state.account(account, region);
        if let Some(evolution) = evolution {
            let Account { population, rng, evolved_at } = account;
            population.evolve(*evolved_at, now, evolution, rng);
            population.pipeline.evolve(*evolved_at, now, rng);
        }
        account.evolved_at = now;
        account
    }

    /// Answers the operations of the rest of the pipeline: `DescribeContinuousExports`,
    /// `DescribeImportTasks` and `DescribeAgents` (paged, with their filters and `maxResults`
    /// limits) and `GetDiscoverySummary`.
    fn pipeline(
        &self,
        operation: &str,
        body: &[u8],
        caller: &Caller,
        region: String,
        shape: Option<&Fault>,
    ) -> Result<Bytes, ApiError> {
        /// What a call asks for.
        enum Query {
            ContinuousExports { ids: Vec<String> },
            ImportTasks { filters: Vec<wire::ImportTaskFilter> },
            Agents { ids: Vec<String>, filters: Vec<ExportFilter> },
            Summary,
        }
        let (query, max_results, next_token) = match operation {
            "DescribeContinuousExports" => {
                let input: wire::DescribeContinuousExportsRequest = parse_body(body)?;
                (
                    Query::ContinuousExports { ids: input.export_ids.unwrap_or_default() },
                    input.max_results,
                    input.next_token,
                )
            }
            "DescribeImportTasks" => {
                let input: wire::DescribeImportTasksRequest = parse_body(body)?;
                let filters = input.filters.unwrap_or_default();
                for filter in &filters {
                    let name = filter.name.as_deref().unwrap_or_default();
                    if !["IMPORT_TASK_ID", "STATUS", "NAME", "FILE_CLASSIFICATION"].contains(&name) {
                        return Err(ApiError::invalid_value(format!("Unknown import task filter name '{name}'")));
                    }
                    if filter.values.as_ref().is_some_and(|v| v.len() > 100) {
                        return Err(ApiError::invalid_value("An import task filter has at most 100 values"));
                    }
                }
                (Query::ImportTasks { filters }, input.max_results, input.next_token)
            }
            "DescribeAgents" => {
                let input: wire::DescribeAgentsRequest = parse_body(body)?;
                let filters = input.filters.unwrap_or_default();
                for filter in &filters {
                    if !["EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS"].contains(&filter.condition.as_str()) {
                        return Err(ApiError::invalid_value(format!("Unknown condition '{}'", filter.condition)));
                    }
                }
                let ids = input.agent_ids.unwrap_or_default();
                (Query::Agents { ids, filters }, input.max_results, input.next_token)
            }
            _ => (Query::Summary, None, None),
        };
        let mut state = self.state();
        let (export_ids, agent_ids) = match &query {
            Query::Agents { ids, .. } => (Vec::new(), ids.clone()),
            Query::ContinuousExports { ids } => (ids.clone(), Vec::new()),
            _ => (Vec::new(), Vec::new()),
        };
        self.record(
            &mut state,
            RecordedRequest {
                operation: operation.to_owned(),
                region: region.clone(),
                account: caller.account.clone(),
                access_key_id: caller.access_key_id.clone(),
                max_results,
                export_ids,
                agent_ids,
                next_token: next_token.clone(),
            },
        );
        let pipeline = &self.evolved(&mut state, &caller.account, &region).population.pipeline;
        let limit = match (operation, max_results) {
            (_, None) => MAX_PAGE_SIZE,
            (_, Some(n)) if n < 1 => return Err(ApiError::invalid_value("maxResults must be at least 1")),
            ("DescribeAgents", Some(n)) => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
            (_, Some(n)) if n > 100 => return Err(ApiError::invalid_value("maxResults must be at most 100")),
            (_, Some(n)) => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE),
        };
        let limit = if shape == Some(&Fault::Oversize) { limit * 10 } else { limit };
        let (key, items): (&str, Vec<serde_json::Value>) = match query {
            Query::Summary => return Ok(wire::discovery_summary(pipeline).to_string().into()),
            Query::ContinuousExports { ids } => (
                "descriptions",
                pipeline
                    .continuous_exports
                    .iter()
                    .filter(|e| ids.is_empty() || ids.contains(&e.export_id))
                    .map(|e| e.to_json())
                    .collect(),
            ),
            Query::ImportTasks { filters } => {
                // "When filtering by import status, all other filter values are ignored."
                let by_status: Vec<&wire::ImportTaskFilter> =
                    filters.iter().filter(|f| f.name.as_deref() == Some("STATUS")).collect();
                let applied = if by_status.is_empty() { filters.iter().collect() } else { by_status };
                let matches = |task: &pipeline::ImportTask| {
                    applied.iter().all(|filter| {
                        let field = match filter.name.as_deref().unwrap_or_default() {
                            "IMPORT_TASK_ID" => task.import_task_id.as_str(),
                            "STATUS" => task.status.as_str(),
                            "NAME" => task.name.as_str(),
                            _ => task.file_classification.as_deref().unwrap_or(""),
                        };
                        filter.values.as_ref().is_none_or(|values| values.iter().any(|v| v == field))
                    })
                };
                ("tasks", pipeline.imports.iter().filter(|t| matches(t)).map(|t| t.to_json()).collect())
            }
            Query::Agents { ids, filters } => {
                let matches = |agent: &pipeline::Agent| {
                    (ids.is_empty() || ids.contains(&agent.agent_id))
                        && filters.iter().all(|filter| {
                            let field = match filter.name.as_str() {
                                "agentId" => &agent.agent_id,
                                "health" => &agent.health,
                                "agentType" => &agent.agent_type,
                                "collectionStatus" => &agent.collection_status,
                                "version" => &agent.version,
                                _ => return false,
                            };
                            let contains = filter.values.iter().any(|v| field.contains(v.as_str()));
                            match filter.condition.as_str() {
                                "EQUALS" => filter.values.contains(field),
                                "NOT_EQUALS" => !filter.values.contains(field),
                                "CONTAINS" => contains,
                                _ => !contains,
                            }
                        })
                };
                ("agentsInfo", pipeline.agents.iter().filter(|a| matches(a)).map(|a| a.to_json()).collect())
            }
        };
        let start = match next_token.as_deref() {
            None | Some("") | Some(REPEATED_TOKEN) => 0,
            Some(token) => token
                .parse::<usize>()
                .ok()
                .filter(|&offset| offset <= items.len())
                .ok_or_else(|| ApiError::invalid_value("The nextToken is invalid"))?,
        };
        let start = shifted(start, shape);
        let end = (start + limit).min(items.len());
        let mut next = (end < items.len()).then(|| end.to_string());
        if shape == Some(&Fault::RepeatToken) {
            next = Some(REPEATED_TOKEN.to_owned());
        }
        let mut page: Vec<serde_json::Value> = items[start..end].to_vec();
        if matches!(shape, Some(Fault::MissingFields | Fault::MissingStatus)) {
            for item in &mut page {
                if let Some(object) = item.as_object_mut() {
                    object.remove("status");
                    object.remove("health");
                }
            }
        }
        let mut response = serde_json::json!({ key: page });
        if let Some(next) = next {
            response["nextToken"] = next.into();
        }
        Ok(response.to_string().into())
    }

    fn describe_export_tasks(
        &self,
        input: DescribeExportTasksRequest,
        caller: &Caller,
        region: String,
        shape: Option<&Fault>,
    ) -> Result<Bytes, ApiError> {
        let agent_ids = agent_filter(input.filters.as_deref())?;
        let export_ids = input.export_ids.unwrap_or_default();
        let mut state = self.state();
        self.record(
            &mut state,
            RecordedRequest {
                operation: "DescribeExportTasks".to_owned(),
                region: region.clone(),
                account: caller.account.clone(),
                access_key_id: caller.access_key_id.clone(),
                max_results: input.max_results,
                export_ids: export_ids.clone(),
                agent_ids: agent_ids.clone(),
                next_token: input.next_token.clone(),
            },
        );
        let limit = match input.max_results {
            None => MAX_PAGE_SIZE,
            Some(n) if n < 1 => return Err(ApiError::invalid_value("maxResults must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
        };
        let limit = if shape == Some(&Fault::Oversize) { limit * 10 } else { limit };
        let tasks = self.evolved(&mut state, &caller.account, &region).population.tasks();
        let start = match input.next_token.as_deref() {
            None | Some("") | Some(REPEATED_TOKEN) => 0,
            Some(token) => token
                .parse::<usize>()
                .ok()
                .filter(|&offset| offset <= tasks.len())
                .ok_or_else(|| ApiError::invalid_value("The nextToken is invalid"))?,
        };
        let matches = |task: &Task| {
            (export_ids.is_empty() || export_ids.contains(&task.export_id))
                && (agent_ids.is_empty() || task.agent_ids.iter().any(|a| agent_ids.contains(a)))
        };
        let start = shifted(start, shape);
        let mut page = Vec::with_capacity(limit.min(tasks.len()));
        let mut next_token = None;
        for (offset, task) in tasks.iter().enumerate().skip(start).filter(|(_, t)| matches(t)) {
            if page.len() == limit {
                next_token = Some(offset.to_string());
                break;
            }
            page.push(ExportInfo::from(task));
        }
        if shape == Some(&Fault::RepeatToken) {
            next_token = Some(REPEATED_TOKEN.to_owned());
        }
        if shape == Some(&Fault::MissingFields) {
            // Only an id each: no status, message or request time.
            let stripped: Vec<_> = page.iter().map(|info| serde_json::json!({ "exportId": info.export_id })).collect();
            return Ok(serde_json::json!({ "exportsInfo": stripped, "nextToken": next_token }).to_string().into());
        }
        if shape == Some(&Fault::MissingStatus) {
            // Everything but the status.
            let stripped: Vec<_> = page
                .iter()
                .map(|info| {
                    let mut value = serde_json::to_value(info).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.remove("exportStatus");
                    }
                    value
                })
                .collect();
            return Ok(serde_json::json!({ "exportsInfo": stripped, "nextToken": next_token }).to_string().into());
        }
        let response = DescribeExportTasksResponse { exports_info: page, next_token };
        Ok(serde_json::to_vec(&response)
            .map_err(|e| ApiError::new(500, "ServerInternalErrorException", e.to_string()))?
            .into())
    }

    fn start_export_task(
        &self,
        input: wire::StartExportTaskRequest,
        caller: &Caller,
        region: String,
    ) -> Result<Bytes, ApiError> {
        let agent_ids = agent_filter(input.filters.as_deref())?;
        if region != self.config.home_region {
            let message = format!("The home region is not set for this account, or {region} is not the home region");
            return Err(ApiError::new(400, "HomeRegionNotSetException", message));
        }
        if let Some(formats) = &input.export_data_format
            && formats.iter().any(|f| f != "CSV")
        {
            return Err(ApiError::invalid_value("exportDataFormat must be CSV"));
        }
        if let (Some(start), Some(end)) = (input.start_time, input.end_time) {
            if end <= start {
                return Err(ApiError::invalid_value("endTime must be after startTime"));
            }
            if end - start > 72.0 * 3600.0 {
                return Err(ApiError::invalid_value("An export may cover at most 72 hours"));
            }
        }
        let mut state = self.state();
        self.record(
            &mut state,
            RecordedRequest {
                operation: "StartExportTask".to_owned(),
                region: region.clone(),
                account: caller.account.clone(),
                access_key_id: caller.access_key_id.clone(),
                max_results: None,
                export_ids: Vec::new(),
                agent_ids: agent_ids.clone(),
                next_token: None,
            },
        );
        let evolution = self.config.evolution.clone().unwrap_or_default();
        let Account { population, rng, .. } = self.evolved(&mut state, &caller.account, &region);
        if !agent_ids.is_empty() && population.running_agent_exports() >= 5 {
            let message = "Too many agent exports are running; at most 5 may run at once";
            return Err(ApiError::new(400, "OperationNotPermittedException", message));
        }
        let has_agents = !agent_ids.is_empty();
        let id = population.start(now(), &evolution, rng, agent_ids);
        if has_agents && let Some(task) = population.last_mut() {
            // ADS applies a time range only to an export of named agents.
            task.requested_start_time = input.start_time;
            task.requested_end_time = input.end_time;
        }
        Ok(serde_json::json!({ "exportId": id }).to_string().into())
    }
}

/// Whether a plan's fault applies to this request, and whether the plan is used up.
fn apply(plan: &mut FaultPlan, rng: &mut StdRng) -> (Option<Fault>, bool) {
    match &mut plan.schedule {
        Schedule::Always => (Some(plan.fault.clone()), false),
        Schedule::Probability(p) => (rng.random_bool(p.clamp(0.0, 1.0)).then(|| plan.fault.clone()), false),
        Schedule::Times(n) => {
            *n = n.saturating_sub(1);
            (Some(plan.fault.clone()), *n == 0)
        }
    }
}

/// A caller that cannot be identified, in the words of each service.
struct CallerError {
    status: u16,
    ads_code: &'static str,
    sts_code: &'static str,
    message: String,
}

impl CallerError {
    fn invalid_token() -> CallerError {
        CallerError {
            status: 403,
            ads_code: "UnrecognizedClientException",
            sts_code: "InvalidClientTokenId",
            message: "The security token included in the request is invalid.".to_owned(),
        }
    }
}

/// ADS calls being answered, and the most at once.
#[derive(Debug, Default)]
struct InFlightCounts {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

/// One call being answered, until dropped.
struct InFlight<'a>(&'a InFlightCounts);

impl<'a> InFlight<'a> {
    fn enter(counts: &'a InFlightCounts) -> InFlight<'a> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = counts.now.fetch_add(1, SeqCst) + 1;
        counts.max.fetch_max(now, SeqCst);
        InFlight(counts)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A stable seed from a name (FNV-1a).
fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    Ok(Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| ApiError::serialization(format!("could not read the request body: {e}")))?
        .to_bytes())
}

/// What a request gets instead of a normal answer.
enum Answer {
    Error(ApiError),
    Sts(StsError),
    Raw(Box<Response<Full<Bytes>>>),
    /// The whole body of a response to cut off half-way.
    Drop(Bytes),
}

impl From<ApiError> for Answer {
    fn from(error: ApiError) -> Answer {
        Answer::Error(error)
    }
}

impl From<StsError> for Answer {
    fn from(error: StsError) -> Answer {
        Answer::Sts(error)
    }
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::serialization(format!("could not parse the request body: {e}")))
}

/// The agent ids of an `agentIds`/`EQUALS` filter; any other filter is refused as ADS refuses it.
fn agent_filter(filters: Option<&[ExportFilter]>) -> Result<Vec<String>, ApiError> {
    let mut agents = Vec::new();
    for filter in filters.unwrap_or_default() {
        if filter.name != "agentIds" {
            return Err(ApiError::invalid_value(format!(
                "Unknown filter name '{}'; the only filter is agentIds",
                filter.name
            )));
        }
        if filter.condition != "EQUALS" {
            return Err(ApiError::invalid_value(format!(
                "Unknown condition '{}'; the only condition is EQUALS",
                filter.condition
            )));
        }
        if filter.values.is_empty() {
            return Err(ApiError::new(
                400,
                "InvalidParameterException",
                "The agentIds filter needs at least one value",
            ));
        }
        agents.extend(filter.values.iter().cloned());
    }
    Ok(agents)
}

/// Where a page starts: with [`Fault::ShiftedPages`], one item earlier (but for the first page).
fn shifted(start: usize, shape: Option<&Fault>) -> usize {
    if shape == Some(&Fault::ShiftedPages) { start.saturating_sub(1) } else { start }
}

/// A simulator serving in the background; dropping it stops the server.
pub struct RunningSimulator {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RunningSimulator {
    /// The endpoint URL to give an AWS client.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
