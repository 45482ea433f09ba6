//! The metrics, rendered at scrape time from memory: the units' families ([`units`]), then the
//! process-wide ones (`ads_targets`, the reload status, build info, `process_*`). Ages are
//! computed when scraped. A scrape never calls AWS.

pub mod process;
pub mod text;
pub mod units;

pub use units::shadowed;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};

use crate::target::UnitList;
use text::{Family, Out, header, sample};

const TARGETS: Family = Family::gauge(
    "ads_targets",
    "Collector units (target x region) this process collects, after sharding; units refused as duplicates included.",
);
const REFUSED: Family = Family::gauge(
    "ads_targets_refused",
    "Collector units refused because they collect the same account and region as another unit: they export no series (the log and landing page name both).",
);
const RELOAD_OK: Family = Family::gauge(
    "ads_config_last_reload_successful",
    "1 when the last reading of the targets file (at start, on SIGHUP or POST /-/reload) succeeded, 0 when it was refused.",
);
const RELOAD_TIME: Family = Family::gauge(
    "ads_config_last_reload_success_timestamp_seconds",
    "When the targets were last loaded successfully, in seconds since the Unix epoch.",
);

/// The process-wide families of the exporter's own.
pub const PROCESS_WIDE: &[Family] = &[TARGETS, REFUSED, RELOAD_OK, RELOAD_TIME];

/// The outcome of the last reading of the targets file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadStatus {
    /// Unix seconds of the last success; 0 before the first.
    pub success_timestamp: f64,
    /// Why the last reload was refused, while it is the last one.
    pub error: Option<ReloadFailure>,
}

impl ReloadStatus {
    /// Whether the last reading succeeded.
    pub fn successful(&self) -> bool {
        self.error.is_none() && self.success_timestamp > 0.0
    }
}

/// A refused reload: when, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadFailure {
    /// Unix seconds.
    pub at: f64,
    pub error: String,
}

/// Appends the process-wide families of the exporter's own.
pub fn render_process_wide(out: &mut String, list: &UnitList, reload: &ReloadStatus) {
    header(out, &TARGETS);
    sample(out, TARGETS.name, "", &[], list.units.len() as f64);
    header(out, &REFUSED);
    let refused = list.units.iter().filter(|u| u.state().refused.is_some()).count();
    sample(out, REFUSED.name, "", &[], refused as f64);
    header(out, &RELOAD_OK);
    sample(out, RELOAD_OK.name, "", &[], if reload.successful() { 1.0 } else { 0.0 });
    header(out, &RELOAD_TIME);
    sample(out, RELOAD_TIME.name, "", &[], reload.success_timestamp);
}

/// `ads_exporter_build_info`, in a registry of its own.
pub fn build_info_registry() -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let info = IntGaugeVec::new(
        Opts::new("ads_exporter_build_info", "Build of the exporter: version, git revision and compiler; always 1."),
        &["version", "revision", "rustc_version"],
    )?;
    info.with_label_values(&[
        env!("CARGO_PKG_VERSION"),
        env!("ADS_EXPORTER_REVISION"),
        env!("ADS_EXPORTER_RUSTC_VERSION"),
    ])
    .set(1);
    registry.register(Box::new(info))?;
    Ok(registry)
}

/// The whole exposition: the units, the process-wide families, build info (rendered once, in
/// `static_text`) and `process_*`, written into `out`.
pub fn render(
    out: &mut Out,
    list: &UnitList,
    reload: &ReloadStatus,
    now: f64,
    process: Option<&process::Reading>,
    static_text: &str,
) {
    units::render(out, list, now);
    render_process_wide(out, list, reload);
    out.push_str(static_text);
    if let Some(reading) = process {
        process::render(out, reading);
    }
}

/// What one exposition is made of, taken at one moment: rendered plain or compressed, as the
/// scrapes of that second ask, each at most once.
struct Inputs {
    list: Arc<UnitList>,
    reload: ReloadStatus,
    now: f64,
    process: Option<process::Reading>,
    static_text: Arc<str>,
}

/// An exposition, good for one second at one [`generation`](crate::target::generation). Each
/// form is rendered when a scrape first asks for it: the gzip one straight into the compressor,
/// so that its plain text never exists in full (Prometheus always asks for gzip).
pub struct Body {
    second: u64,
    generation: u64,
    inputs: Inputs,
    plain: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
    /// The sizes of the last bodies, for one allocation of about the right size.
    sizes: Arc<Sizes>,
}

/// The sizes of the last plain and gzip bodies.
#[derive(Default)]
struct Sizes {
    plain: AtomicUsize,
    gzip: AtomicUsize,
}

impl Body {
    fn render(&self, mut out: Out) -> Bytes {
        let i = &self.inputs;
        render(&mut out, &i.list, &i.reload, i.now, i.process.as_ref(), &i.static_text);
        out.finish()
    }

    /// The plain text.
    pub fn plain(&self) -> &Bytes {
        self.plain.get_or_init(|| {
            // A generous first guess: pages never written take no memory.
            let first_guess =
                4096 + self.inputs.list.units.iter().map(|u| 4096 + u.slots.len() * 12_288).sum::<usize>();
            let last = self.sizes.plain.load(Ordering::Relaxed);
            let body = self.render(Out::plain(if last > 0 { last + last / 16 } else { first_guess }));
            self.sizes.plain.store(body.len(), Ordering::Relaxed);
            body
        })
    }

    /// The body gzipped (level 1, as Prometheus asks on every scrape), compressed while it is
    /// rendered.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let last = self.sizes.gzip.load(Ordering::Relaxed);
            let body = self.render(Out::gzip(if last > 0 { last + last / 8 } else { 64 * 1024 }));
            self.sizes.gzip.store(body.len(), Ordering::Relaxed);
            body
        })
    }
}

/// What `/metrics` serves, rendered (and compressed) at most once per second and change: a
/// scrape that finds nothing changed since the last, within the same second, gets the same
/// bytes; ages and `process_*` stay right to the second.
pub struct Exposition {
    /// Build info, which never changes.
    static_text: Arc<str>,
    current: ArcSwapOption<Body>,
    /// One new body at a time; scrapes that wait for it get it.
    rendering: tokio::sync::Mutex<()>,
    process: std::sync::Mutex<Option<(u64, Option<process::Reading>)>>,
    sizes: Arc<Sizes>,
}

impl Exposition {
    pub fn new() -> prometheus::Result<Exposition> {
        let static_text = TextEncoder::new().encode_to_string(&build_info_registry()?.gather())?;
        Ok(Exposition {
            static_text: static_text.into(),
            current: ArcSwapOption::empty(),
            rendering: tokio::sync::Mutex::new(()),
            process: std::sync::Mutex::new(None),
            sizes: Arc::default(),
        })
    }

    fn fresh(&self, second: u64, generation: u64) -> Option<Arc<Body>> {
        self.current.load_full().filter(|body| body.second == second && body.generation == generation)
    }

    /// The exposition as of now, with the form asked for (`gzip` or plain) rendered; `source`
    /// gives the units and the reload status. The rendering happens under an async lock, so that
    /// scrapes arriving meanwhile wait without holding a thread, and then take its result.
    pub async fn body(&self, source: impl Fn() -> (Arc<UnitList>, ReloadStatus), gzip: bool) -> Arc<Body> {
        let now = crate::clock::unix_now();
        let second = now as u64;
        // Read before rendering: a change during the rendering makes the next scrape render anew.
        let generation = crate::target::generation();
        let rendered = |body: &Body| if gzip { body.gzip.get().is_some() } else { body.plain.get().is_some() };
        if let Some(body) = self.fresh(second, generation).filter(|b| rendered(b)) {
            return body;
        }
        let _rendering = self.rendering.lock().await;
        if let Some(body) = self.fresh(second, generation) {
            if gzip {
                body.gzip();
            } else {
                body.plain();
            }
            return body;
        }
        let process = {
            let mut cached = self.process.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some((at, reading)) if *at == second => reading.clone(),
                _ => {
                    let reading = process::read();
                    *cached = Some((second, reading.clone()));
                    reading
                }
            }
        };
        let (list, reload) = source();
        let inputs = Inputs { list, reload, now, process, static_text: self.static_text.clone() };
        let body = Arc::new(Body {
            second,
            generation,
            inputs,
            plain: OnceLock::new(),
            gzip: OnceLock::new(),
            sizes: self.sizes.clone(),
        });
        if gzip {
            body.gzip();
        } else {
            body.plain();
        }
        self.current.store(Some(body.clone()));
        body
    }
}
