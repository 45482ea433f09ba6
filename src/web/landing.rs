//! The landing page at `/`: what a person needs at a glance. The exporter's build, where its
//! targets come from, its shard, the last reload's result, then one row per unit, failing units
//! first, with links to the README's runbooks. Plain HTML and a little CSS, no scripts; a table
//! on a wide screen, one card per unit on a phone.
//!
//! It needs no credentials when basic auth is off, so it shows error codes with a fixed
//! description, never an AWS message (which can carry account ids and role ARNs).

use std::fmt::Write as _;

use crate::check::plural;
use crate::data::Data;
use crate::supervisor::Supervisor;
use crate::target::{Kind, Published, Unit};

/// Where the README's runbooks are, as the alert rules link them.
pub const RUNBOOKS: &str = "https://github.com/ads-exporter/ads_exporter/blob/main/README.md";

/// How a unit is doing, in the order the page lists them: what needs a look first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    /// A collector's last collection failed.
    Failing,
    /// It collects the account and region of a unit earlier in the configuration.
    Refused,
    /// A collector has not finished its first collection.
    Pending,
    Up,
}

impl Health {
    fn of(unit: &Unit) -> Health {
        if unit.state().refused.is_some() {
            return Health::Refused;
        }
        let published: Vec<_> = unit.slots.iter().map(|s| s.published()).collect();
        if published.iter().any(|p| p.last_error.is_some()) {
            Health::Failing
        } else if published.iter().any(|p| p.collections == 0) {
            Health::Pending
        } else {
            Health::Up
        }
    }

    fn label(self) -> &'static str {
        match self {
            Health::Failing => "failing",
            Health::Refused => "refused",
            Health::Pending => "starting",
            Health::Up => "up",
        }
    }
}

const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1400px;\
padding:16px 20px;color:#1d2330;background:#fff}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px}\
p{margin:4px 0}a{color:#1f5fbf}nav{display:flex;flex-wrap:wrap;gap:4px 16px}\
.muted{color:#5b6473}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}dt{font-weight:600}dd{margin:0}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:8px 10px;\
border-bottom:1px solid #dde1e8}th{background:#f3f5f8;font-size:13px}\
ul.collectors{list-style:none;margin:0;padding:0}ul.collectors li{margin:0 0 2px}\
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;\
text-transform:uppercase;letter-spacing:.03em}\
.badge.failing{background:#fde2e1;color:#9b1c1c}.badge.refused{background:#fdecc8;color:#7a4a00}\
.badge.starting{background:#e4e9f2;color:#39445a}.badge.up{background:#dcf3e3;color:#14532d}\
tr.failing td:first-child{border-left:4px solid #d33}tr.refused td:first-child{border-left:4px solid #e8a317}\
td.nowrap{white-space:nowrap}\
.bad{color:#9b1c1c;font-weight:600}\
@media (max-width:760px){body{padding:12px}thead{display:none}table,tbody,tr,td{display:block;width:auto}\
tr{border:1px solid #dde1e8;border-radius:6px;margin:0 0 12px;padding:4px 0}td{border:0;padding:4px 12px}\
td::before{content:attr(data-label);display:block;font:600 12px system-ui,sans-serif;color:#5b6473}\
tr.failing,tr.refused{border-left-width:4px}tr.failing td:first-child,tr.refused td:first-child{border-left:0}\
dl{grid-template-columns:1fr}dt{margin-top:6px}}";

/// The page, as of `now` (Unix seconds).
pub fn render(supervisor: &Supervisor, telemetry_path: &str, now: f64) -> String {
    let list = supervisor.units();
    let mut units: Vec<(Health, &std::sync::Arc<Unit>)> = list.units.iter().map(|u| (Health::of(u), u)).collect();
    units.sort_by_key(|(health, unit)| (*health, unit.rank()));
    let count = |h: Health| units.iter().filter(|(health, _)| *health == h).count();
    let shadowed = crate::metrics::shadowed(&list);

    let mut html = String::with_capacity(4096 + 1024 * units.len());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>ADS Exporter</title><style>{STYLE}</style></head>\n<body>\n\
         <h1>ADS Exporter</h1>\n<p class=\"muted\">Prometheus exporter for AWS Application Discovery Service: \
         export tasks, continuous exports, imports, agents and collectors. Version {version}.</p>\n\
         <nav><a href=\"{path}\">Metrics</a><a href=\"/-/healthy\">Health</a><a href=\"/-/ready\">Readiness</a>\
         <a href=\"{RUNBOOKS}#alerts-and-runbooks\">Runbooks</a><a href=\"{RUNBOOKS}#troubleshooting\">Troubleshooting</a></nav>\n",
        version = escape(crate::cli::VERSION),
        path = escape(telemetry_path),
    );

    // What runs, and how the last reading of the targets went.
    let targets = escape(&supervisor.targets().to_string());
    let shard = supervisor.shard();
    let status = supervisor.reload_status();
    let reload = match (&status.error, status.success_timestamp > 0.0) {
        (Some(failure), _) => format!(
            "<span class=\"bad\">refused</span> {} ({}): <span class=\"mono\">{}</span>; the targets loaded {} go on unchanged",
            when(failure.at, now),
            ago(failure.at, now),
            escape(&failure.error),
            when(status.success_timestamp, now),
        ),
        (None, true) => {
            format!("loaded {} ({})", when(status.success_timestamp, now), ago(status.success_timestamp, now))
        }
        (None, false) => "not loaded yet".to_owned(),
    };
    let mut tally = vec![plural(units.len(), "unit")];
    for (h, text) in [(Health::Failing, "failing"), (Health::Refused, "refused"), (Health::Pending, "starting")] {
        let n = count(h);
        if n > 0 {
            tally.push(format!("<span class=\"badge {}\">{n} {text}</span>", h.label()));
        }
    }
    let ready =
        if supervisor.ready() { "ready" } else { "not ready: not every unit has finished its first collection" };
    let _ = writeln!(
        html,
        "<dl><dt>Targets</dt><dd class=\"mono\">{targets}</dd><dt>Shard</dt><dd>{index}/{shards}{others}</dd>\
         <dt>Last reload</dt><dd>{reload}</dd><dt>Units</dt><dd>{tally}; {ready}</dd></dl>",
        index = shard.index,
        shards = shard.count,
        others = if shard.count > 1 { " (this process collects the units of this shard only)" } else { "" },
        tally = tally.join(" "),
    );

    let _ = write!(
        html,
        "<h2>Units</h2>\n<table><thead><tr><th>State</th><th>AWS account</th><th>Region</th>\
         <th>Defined in</th><th>Static labels</th><th>Collectors: state, last success, collections</th>\
         <th>Export tasks by status (last good collection)</th></tr></thead><tbody>\n"
    );
    for (health, unit) in &units {
        let state = unit.state();
        let mut notes = Vec::new();
        if let Some(reason) = &state.refused {
            notes.push(format!(
                "refused: {}: it exports nothing and makes no ADS call; remove one of the two \
                 (<a href=\"{RUNBOOKS}#adstargetsrefused\">runbook</a>)",
                escape(reason)
            ));
        }
        if let Some(code) = &state.identity_error {
            notes.push(format!("account not known yet ({}: {})", escape(code.as_str()), escape(code.describe())));
        }
        if shadowed.contains(&unit.id) {
            notes.push(
                "not exported until its account is known: another unit has the same region and labels".to_owned(),
            );
        }
        let collectors = if *health == Health::Refused {
            "<span class=\"muted\">no collection while refused</span>".to_owned()
        } else {
            let items: Vec<String> = unit.slots.iter().map(|s| collector(s.kind, &s.published(), now)).collect();
            format!("<ul class=\"collectors\">{}</ul>", items.join(""))
        };
        let labels = unit.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("<br><span class=\"muted\">{}</span>", notes.join("<br>"))
        };
        let _ = writeln!(
            html,
            "<tr class=\"{class}\"><td data-label=\"State\"><span class=\"badge {class}\">{class}</span>{notes}</td>\
             <td data-label=\"AWS account\" class=\"mono nowrap\">{account}</td><td data-label=\"Region\" class=\"nowrap\">{region}</td>\
             <td data-label=\"Defined in\" class=\"mono nowrap\">{origin}</td><td data-label=\"Static labels\">{labels}</td>\
             <td data-label=\"Collectors\">{collectors}</td><td data-label=\"Export tasks\">{tasks}</td></tr>",
            class = health.label(),
            account = escape(state.account_id.as_deref().unwrap_or("(not known yet)")),
            region = escape(&unit.spec.region),
            origin = escape(&unit.origin()),
            labels = if labels.is_empty() { "<span class=\"muted\">none</span>".to_owned() } else { escape(&labels) },
            tasks = export_tasks(unit),
        );
    }
    html.push_str("</tbody></table>\n</body></html>\n");
    html
}

/// One collector's line: its state (with the code and a fixed description of its last error,
/// and a link to the runbook), its last success, its collections and backoff.
fn collector(kind: Kind, published: &Published, now: f64) -> String {
    let state = match (&published.last_error, published.data.is_some()) {
        (Some(error), has_data) => {
            let code = error.code();
            let serving = if has_data { "serving the last good data" } else { "no collection has succeeded yet" };
            format!(
                "<span class=\"bad\">failing</span>: <span class=\"mono\">{}</span> ({}); {serving} \
                 (<a href=\"{RUNBOOKS}#adscollectionfailing\">runbook</a>)",
                escape(code.as_str()),
                escape(code.describe())
            )
        }
        (None, true) => "up".to_owned(),
        (None, false) => "first collection pending".to_owned(),
    };
    let last_success = if published.last_success > 0.0 { ago(published.last_success, now) } else { "never".to_owned() };
    let backoff =
        if published.backoff > 0.0 { format!("; backing off {:.0} s", published.backoff) } else { String::new() };
    format!(
        "<li><b>{kind}</b>: {state}; last success {last_success}; {}{backoff}</li>",
        plural(published.collections as usize, "collection")
    )
}

/// The export tasks by status of the unit's last good collection.
fn export_tasks(unit: &Unit) -> String {
    let Some(data) = unit.slot(Kind::ExportTasks).and_then(|s| s.published().data.clone()) else {
        return "<span class=\"muted\">none collected</span>".to_owned();
    };
    match &*data {
        Data::ExportTasks(tasks) => tasks
            .statuses
            .by_status
            .iter()
            .map(|(status, v)| format!("{}: {}", escape(status), v.count))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// `2026-12-02 12:00:03 UTC`.
fn when(unix: f64, now: f64) -> String {
    let seconds = if unix > 0.0 { unix } else { now };
    match time::OffsetDateTime::from_unix_timestamp(seconds as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{seconds:.0}"),
    }
}

/// `4 s ago`, `3 min ago`, `2 h ago`, `5 days ago`.
fn ago(unix: f64, now: f64) -> String {
    let seconds = (now - unix).max(0.0) as u64;
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7_199 => format!("{} min ago", seconds / 60),
        7_200..=172_799 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_and_writes_times_for_people() {
        assert_eq!(escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
        assert_eq!(when(1_764_676_803.0, 0.0), "2025-12-02 12:00:03 UTC");
        assert_eq!(ago(100.0, 104.0), "4 s ago");
        assert_eq!(ago(0.0, 600.0), "10 min ago");
        assert_eq!(ago(0.0, 7_200.0), "2 h ago");
        assert_eq!(ago(0.0, 3.0 * 86_400.0), "3 days ago");
        assert_eq!(plural(1, "collection"), "1 collection");
        assert_eq!(plural(0, "collection"), "0 collections");
    }
}
