//! A simulator of the AWS Application Discovery Service API, for demo mode and tests.
//!
//! It is a real HTTP server speaking AWS JSON 1.1 as ADS does (see `../shared/ads-api.md` in the
//! project's docs): `DescribeExportTasks` with paging, `exportIds` and `agentIds` filters and
//! `maxResults` (1 to 100; larger values are capped at 100), epoch-number timestamps;
//! `StartExportTask` with the home-region check and the five-running-agent-exports limit; the
//! modeled errors with their status codes. SigV4 signatures are not verified, but a request must
//! carry an `Authorization` header scoped to the `discovery` service.
//!
//! Tests and the `simulate` subcommand can inject [`Fault`]s and inspect the requests served.

pub mod faults;
pub mod model;
pub mod wire;

use std::collections::VecDeque;
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

use crate::metrics::unix_now as now;

pub use faults::{Fault, FaultPlan, Schedule};
pub use model::{Evolution, FAILED, IN_PROGRESS, Population, SUCCEEDED, Task};
use wire::{ApiError, DescribeExportTasksRequest, DescribeExportTasksResponse, ExportFilter, ExportInfo};

/// The most tasks one `DescribeExportTasks` page holds.
pub const MAX_PAGE_SIZE: usize = 100;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const RECORDED_REQUESTS: usize = 1024;
/// The `nextToken` of [`Fault::RepeatToken`].
const REPEATED_TOKEN: &str = "repeat";

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
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig { home_region: "us-west-2".to_owned(), evolution: None, seed: 0 }
    }
}

/// One request the simulator answered (or refused), as tests want to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub operation: String,
    /// The region of the request's SigV4 credential scope.
    pub region: String,
    pub max_results: Option<i64>,
    pub export_ids: Vec<String>,
    pub agent_ids: Vec<String>,
    pub next_token: Option<String>,
}

struct State {
    population: Population,
    rng: StdRng,
    evolved_at: f64,
    requests: VecDeque<RecordedRequest>,
    received: u64,
}

/// The simulated ADS service; share it with `Arc` between its server and a test.
pub struct Simulator {
    config: SimulatorConfig,
    state: Mutex<State>,
    fault: watch::Sender<Option<FaultPlan>>,
}

impl Simulator {
    pub fn new(population: Population, config: SimulatorConfig) -> Arc<Simulator> {
        let state = State {
            population,
            rng: StdRng::seed_from_u64(config.seed),
            evolved_at: now(),
            requests: VecDeque::new(),
            received: 0,
        };
        Arc::new(Simulator { config, state: Mutex::new(state), fault: watch::Sender::new(None) })
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

    /// Injects a fault (or clears it with `None`); requests waiting on a slow fault are released.
    pub fn set_fault(&self, plan: Option<FaultPlan>) {
        self.fault.send_replace(plan);
    }

    /// The most recent requests, oldest first (at most 1,024 are kept).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.iter().cloned().collect()
    }

    /// How many requests arrived since the simulator started, answered or not yet.
    pub fn received(&self) -> u64 {
        self.state().received
    }

    /// Runs `f` on the population, for tests that change or inspect it.
    pub fn with_population<R>(&self, f: impl FnOnce(&mut Population) -> R) -> R {
        f(&mut self.state().population)
    }

    /// Serves the API on `listener` until `shutdown` completes.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let handler = move |request| {
            let simulator = self.clone();
            async move { simulator.handle(request).await }
        };
        crate::serve::serve(listener, None, handler, crate::serve::Limits::default(), shutdown).await;
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
        let response = match self.answer(request).await {
            Ok(body) => wire::json_response(StatusCode::OK, body, &request_id),
            Err(Answer::Error(error)) => error.into_response(&request_id),
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

    async fn answer(&self, request: Request<Incoming>) -> Result<Bytes, Answer> {
        self.state().received += 1;
        if request.method() != Method::POST || request.uri().path() != "/" {
            return Err(ApiError::new(404, "UnknownOperationException", "ADS is served as POST /").into());
        }
        let headers = request.headers();
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|target| target.strip_prefix(wire::TARGET_PREFIX))
            .ok_or_else(|| ApiError::new(400, "UnknownOperationException", "missing or unknown X-Amz-Target"))?
            .to_owned();
        let authorization = headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(authorization) = authorization else {
            return Err(
                ApiError::new(403, "MissingAuthenticationTokenException", "Missing Authentication Token").into()
            );
        };
        let (region, service) = wire::credential_scope(authorization).ok_or_else(|| {
            ApiError::new(403, "IncompleteSignatureException", "Authorization header is not a valid SigV4 header")
        })?;
        if service != "discovery" {
            let message = format!("Credential should be scoped to correct service: 'discovery', not '{service}'");
            return Err(ApiError::new(403, "InvalidSignatureException", message).into());
        }
        let region = region.to_owned();
        let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| ApiError::serialization(format!("could not read the request body: {e}")))?
            .to_bytes();

        let shape = match self.draw_fault() {
            Some(fault) => self.inject(fault).await?,
            None => None,
        };
        match operation.as_str() {
            "DescribeExportTasks" => {
                let input: DescribeExportTasksRequest = parse_body(&body)?;
                let body = self.describe_export_tasks(input, region, shape.as_ref())?;
                if shape == Some(Fault::Drop) {
                    return Err(Answer::Drop(body));
                }
                Ok(body)
            }
            "StartExportTask" => {
                let input: wire::StartExportTaskRequest = parse_body(&body)?;
                Ok(self.start_export_task(input, region)?)
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}")).into()),
        }
    }

    /// The active fault, if it applies to this request (and counts it down).
    fn draw_fault(&self) -> Option<Fault> {
        let mut applies = None;
        self.fault.send_if_modified(|plan| {
            let Some(current) = plan else { return false };
            match &mut current.schedule {
                Schedule::Always => applies = Some(current.fault.clone()),
                Schedule::Probability(p) => {
                    if self.state().rng.random_bool(p.clamp(0.0, 1.0)) {
                        applies = Some(current.fault.clone());
                    }
                }
                Schedule::Times(n) => {
                    applies = Some(current.fault.clone());
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        *plan = None;
                        return true;
                    }
                }
            }
            false
        });
        applies
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
                let mut changed = self.fault.subscribe();
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
            Fault::Drop | Fault::RepeatToken | Fault::MissingFields | Fault::Oversize => Ok(Some(fault)),
            Fault::Throttle | Fault::Error(_) => Ok(None),
        }
    }

    fn record(&self, state: &mut State, request: RecordedRequest) {
        if state.requests.len() == RECORDED_REQUESTS {
            state.requests.pop_front();
        }
        state.requests.push_back(request);
    }

    fn evolve(&self, state: &mut State) {
        let now = now();
        if let Some(evolution) = &self.config.evolution {
            let State { population, rng, evolved_at, .. } = state;
            population.evolve(*evolved_at, now, evolution, rng);
        }
        state.evolved_at = now;
    }

    fn describe_export_tasks(
        &self,
        input: DescribeExportTasksRequest,
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
                region,
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
        self.evolve(&mut state);
        let tasks = state.population.tasks();
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
        let response = DescribeExportTasksResponse { exports_info: page, next_token };
        Ok(serde_json::to_vec(&response)
            .map_err(|e| ApiError::new(500, "ServerInternalErrorException", e.to_string()))?
            .into())
    }

    fn start_export_task(&self, input: wire::StartExportTaskRequest, region: String) -> Result<Bytes, ApiError> {
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
                region,
                max_results: None,
                export_ids: Vec::new(),
                agent_ids: agent_ids.clone(),
                next_token: None,
            },
        );
        self.evolve(&mut state);
        if !agent_ids.is_empty() && state.population.running_agent_exports() >= 5 {
            let message = "Too many agent exports are running; at most 5 may run at once";
            return Err(ApiError::new(400, "OperationNotPermittedException", message));
        }
        let evolution = self.config.evolution.clone().unwrap_or_default();
        let State { population, rng, .. } = &mut *state;
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

/// What a request gets instead of a normal answer.
enum Answer {
    Error(ApiError),
    Raw(Box<Response<Full<Bytes>>>),
    /// The whole body of a response to cut off half-way.
    Drop(Bytes),
}

impl From<ApiError> for Answer {
    fn from(error: ApiError) -> Answer {
        Answer::Error(error)
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
