//! `--config.file`: the targets to collect from, as YAML.
//!
//! ```yaml
//! defaults:                      # every key here can be set per target; all optional
//!   regions: [us-west-2]
//!   interval: 60s                # the --collector.* flags give the defaults of these
//!   timeout: 45s
//!   page_size: 100
//!   max_attempts: 3
//! targets:
//!   - role_arn: arn:aws:iam::111122223333:role/ads-exporter-read
//!     external_id: example-external-id
//!     session_name: ads_exporter
//!     regions: [us-west-2, eu-west-1]
//!     labels: {programme: dc-exit, wave: "3"}
//!     filters: {export_ids: [], agent_ids: []}
//!   - profile: migration-sandbox
//!   - {}
//! ```
//!
//! A file is checked whole: an unknown key, a bad value or two targets that collect the same
//! account and region refuse it, with a message that names the key (`targets[1].regions[0]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{DEFAULT_SESSION_NAME, Filters, Identity, Kind, Role, UnitSettings, UnitSpec, check_label_name};

/// What the flags give: the defaults under the file's own `defaults`.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// `--aws.region`; empty: the region of the target's profile or environment.
    pub regions: Vec<String>,
    pub settings: UnitSettings,
    /// `--collector.NAME` / `--no-collector.NAME`.
    pub collectors: BTreeSet<Kind>,
}

/// One target, before its regions are known: empty `regions` means the region of its profile
/// (or `AWS_REGION`).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Where it is defined (`targets[2]`, or a flag), for messages.
    pub origin: String,
    pub identity: Identity,
    pub regions: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub settings: UnitSettings,
    pub filters: Filters,
    pub collectors: BTreeSet<Kind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    defaults: Option<SettingsDoc>,
    targets: Option<Vec<TargetDoc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsDoc {
    regions: Option<Vec<String>>,
    collectors: Option<Vec<String>>,
    interval: Option<String>,
    timeout: Option<String>,
    page_size: Option<i64>,
    max_attempts: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    profile: Option<String>,
    account_id: Option<serde_norway::Value>,
    labels: Option<LabelsDoc>,
    filters: Option<FiltersDoc>,
    // The keys of `defaults`, per target (serde cannot flatten with deny_unknown_fields).
    regions: Option<Vec<String>>,
    collectors: Option<Vec<String>>,
    interval: Option<String>,
    timeout: Option<String>,
    page_size: Option<i64>,
    max_attempts: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersDoc {
    export_ids: Option<Vec<String>>,
    agent_ids: Option<Vec<String>>,
}

/// Reads and checks a targets file; errors start with the file's path.
pub fn load(path: &Path, defaults: &Defaults) -> Result<Vec<TargetSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text, defaults).map_err(|e| in_file(path, &e))
}

/// Every line of an error (one problem each) prefixed with the file's path, unless it names it.
pub fn in_file(path: &Path, error: &str) -> String {
    let path = path.display().to_string();
    error
        .lines()
        .map(|line| {
            if line.starts_with(&path) || line.starts_with("cannot read") {
                line.to_owned()
            } else {
                format!("{path}: {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks a targets file's text.
pub fn parse(text: &str, defaults: &Defaults) -> Result<Vec<TargetSpec>, String> {
    let deserializer = serde_norway::Deserializer::from_str(text);
    let doc: FileDoc = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = readable(&e.into_inner().to_string());
        // serde_norway names the key itself, most of the time, in the message.
        let named = inner.split(": ").next().is_some_and(|first| path.starts_with(first) && !first.is_empty());
        if path == "." || named { inner } else { format!("{path}: {inner}") }
    })?;
    let base = settings(defaults.settings.clone(), &SettingsView::of_defaults(doc.defaults.as_ref()), "defaults")?;
    let base_regions = match doc.defaults.as_ref().and_then(|d| d.regions.as_ref()) {
        Some(regions) => check_regions(regions, "defaults.regions")?,
        None => defaults.regions.clone(),
    };
    let base_collectors = match doc.defaults.as_ref().and_then(|d| d.collectors.as_ref()) {
        Some(names) => collectors(names, "defaults.collectors")?,
        None => defaults.collectors.clone(),
    };
    let targets = doc.targets.ok_or("no targets: list at least one under targets: (`- {}` is the default chain)")?;
    if targets.is_empty() {
        return Err("targets: is empty; list at least one target (`- {}` is the default chain)".to_owned());
    }
    // Every target's problem, not only the first target's.
    let mut specs = Vec::with_capacity(targets.len());
    let mut problems = Vec::new();
    for (index, target) in targets.into_iter().enumerate() {
        let at = format!("targets[{index}]");
        match target_spec(target, &at, &base, &base_regions, &base_collectors) {
            Ok(spec) => specs.push(spec),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() { Ok(specs) } else { Err(problems.join("\n")) }
}

/// A parse error in the file's words, not the parser's: what is expected instead of the
/// internal type that expects it.
fn readable(message: &str) -> String {
    [
        ("struct FileDoc", "a mapping with the keys defaults: and targets:"),
        (
            "struct SettingsDoc",
            "a mapping of settings (regions, collectors, interval, timeout, page_size, max_attempts)",
        ),
        ("struct TargetDoc", "a mapping of a target's keys (role_arn, profile, regions, labels, ...)"),
        ("struct FiltersDoc", "a mapping with the keys export_ids: and agent_ids:"),
        ("expected i64", "expected a whole number"),
        ("a map of unique label names", "a mapping of label names to values"),
    ]
    .iter()
    .fold(message.to_owned(), |text, (internal, words)| text.replace(internal, words))
}

/// Static labels as written, each name once (a mapping with a name twice is refused, as any
/// other key twice is).
#[derive(Debug, Default)]
struct LabelsDoc(Vec<(String, serde_norway::Value)>);

impl<'de> Deserialize<'de> for LabelsDoc {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LabelsDoc, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = LabelsDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of unique label names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<LabelsDoc, A::Error> {
                let mut labels: Vec<(String, serde_norway::Value)> = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, serde_norway::Value>()? {
                    if labels.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!("duplicate label `{name}`")));
                    }
                    labels.push((name, value));
                }
                Ok(LabelsDoc(labels))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The settings keys of `defaults` or of a target.
struct SettingsView<'a> {
    interval: Option<&'a str>,
    timeout: Option<&'a str>,
    page_size: Option<i64>,
    max_attempts: Option<i64>,
}

impl<'a> SettingsView<'a> {
    fn of_defaults(doc: Option<&'a SettingsDoc>) -> SettingsView<'a> {
        SettingsView {
            interval: doc.and_then(|d| d.interval.as_deref()),
            timeout: doc.and_then(|d| d.timeout.as_deref()),
            page_size: doc.and_then(|d| d.page_size),
            max_attempts: doc.and_then(|d| d.max_attempts),
        }
    }
}

fn settings(mut base: UnitSettings, view: &SettingsView<'_>, at: &str) -> Result<UnitSettings, String> {
    if let Some(text) = view.interval {
        base.interval = positive_duration(text).map_err(|e| format!("{at}.interval: {e}"))?;
    }
    if let Some(text) = view.timeout {
        base.timeout = positive_duration(text).map_err(|e| format!("{at}.timeout: {e}"))?;
    }
    if let Some(n) = view.page_size {
        base.page_size = i32::try_from(n)
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or(format!("{at}.page_size: {n} is not between 1 and 100"))?;
    }
    if let Some(n) = view.max_attempts {
        base.max_attempts = u32::try_from(n)
            .ok()
            .filter(|n| (1..=10).contains(n))
            .ok_or(format!("{at}.max_attempts: {n} is not between 1 and 10"))?;
    }
    Ok(base)
}

/// The shortest interval or timeout: shorter would only hammer AWS.
pub const MIN_DURATION: Duration = Duration::from_millis(100);
/// The longest interval or timeout (a day).
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// An interval or timeout: a human duration from 100 ms to 24 h.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{text:?} has no unit: write {trimmed}s for seconds (or 90s, 5m, 1h)"));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|e| format!("{text:?} is not a duration like 60s, 90s or 5m: {e}"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(format!("{text:?} is not between 100ms and 24h"));
    }
    Ok(duration)
}

/// Collector names (`export-tasks` or `export_tasks`), each once, at least one.
fn collectors(names: &[String], at: &str) -> Result<BTreeSet<Kind>, String> {
    if names.is_empty() {
        return Err(format!("{at}: is empty; list at least one collector or leave the key out"));
    }
    let mut kinds = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let kind = Kind::parse(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("{at}[{i}]: unknown collector {name:?}; the collectors are {}", known.join(", "))
        })?;
        if !kinds.insert(kind) {
            return Err(format!("{at}[{i}]: {name} is listed twice"));
        }
    }
    Ok(kinds)
}

fn target_spec(
    doc: TargetDoc,
    at: &str,
    base: &UnitSettings,
    base_regions: &[String],
    base_collectors: &BTreeSet<Kind>,
) -> Result<TargetSpec, String> {
    let view = SettingsView {
        interval: doc.interval.as_deref(),
        timeout: doc.timeout.as_deref(),
        page_size: doc.page_size,
        max_attempts: doc.max_attempts,
    };
    let settings = settings(base.clone(), &view, at)?;
    let regions = match &doc.regions {
        Some(regions) => check_regions(regions, &format!("{at}.regions"))?,
        None => base_regions.to_vec(),
    };
    let collectors = match &doc.collectors {
        Some(names) => collectors(names, &format!("{at}.collectors"))?,
        None if base_collectors.is_empty() => {
            return Err(format!(
                "{at}: no collector: every one is switched off by the --no-collector.* flags and neither \
                 defaults.collectors nor {at}.collectors names one"
            ));
        }
        None => base_collectors.clone(),
    };
    let role = match doc.role_arn {
        Some(arn) => {
            check_role_arn(&arn).map_err(|e| format!("{at}.role_arn: {e}"))?;
            if let Some(id) = &doc.external_id {
                check_external_id(id).map_err(|e| format!("{at}.external_id: {e}"))?;
            }
            let session_name = doc.session_name.unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned());
            check_session_name(&session_name).map_err(|e| format!("{at}.session_name: {e}"))?;
            Some(Role { arn, external_id: doc.external_id, session_name })
        }
        None => {
            for (key, set) in [("external_id", doc.external_id.is_some()), ("session_name", doc.session_name.is_some())]
            {
                if set {
                    return Err(format!("{at}.{key}: only applies with role_arn"));
                }
            }
            None
        }
    };
    let profile = match doc.profile {
        Some(profile) if profile.trim().is_empty() => return Err(format!("{at}.profile: must not be empty")),
        other => other,
    };
    let account_id = match doc.account_id {
        None => None,
        Some(serde_norway::Value::String(id)) => {
            if !super::is_account_id(&id) {
                return Err(format!("{at}.account_id: {id:?} is not a 12-digit AWS account id"));
            }
            if let Some(role) = &role
                && role.account_id() != id
            {
                return Err(format!("{at}.account_id: {id} is not the account of role_arn ({})", role.account_id()));
            }
            Some(id)
        }
        Some(_) => {
            return Err(format!(
                "{at}.account_id: write the account id as a quoted string (\"012345678901\"): a number loses its leading zeros"
            ));
        }
    };
    let mut labels = BTreeMap::new();
    for (name, value) in doc.labels.unwrap_or_default().0 {
        check_label_name(&name).map_err(|e| format!("{at}.labels: {e}"))?;
        let value = match value {
            serde_norway::Value::String(s) => s,
            // YAML reads 1.10 as 1.1, 0x1F as 31 and yes as true: a label value keeps its text
            // only when quoted.
            serde_norway::Value::Number(_) | serde_norway::Value::Bool(_) => {
                return Err(format!(
                    "{at}.labels.{name}: an unquoted number or boolean is read as YAML reads it (1.10 as 1.1, 0x1F as \
                     31): quote the value as it should read ({name}: \"...\")"
                ));
            }
            _ => return Err(format!("{at}.labels.{name}: a label value is a string")),
        };
        labels.insert(name, value);
    }
    let filters = doc.filters.unwrap_or_default();
    let filters = Filters {
        export_ids: ids(filters.export_ids, &format!("{at}.filters.export_ids"))?,
        agent_ids: ids(filters.agent_ids, &format!("{at}.filters.agent_ids"))?,
    };
    Ok(TargetSpec {
        origin: at.to_owned(),
        identity: Identity { profile, role, account_id },
        regions,
        labels,
        settings,
        filters,
        collectors,
    })
}

fn ids(values: Option<Vec<String>>, at: &str) -> Result<Vec<String>, String> {
    let values = values.unwrap_or_default();
    for (i, value) in values.iter().enumerate() {
        if value.trim().is_empty() {
            return Err(format!("{at}[{i}]: must not be empty"));
        }
    }
    Ok(values)
}

/// A region name as AWS spells them (`us-west-2`, `us-gov-west-1`), each once.
pub fn check_regions(regions: &[String], at: &str) -> Result<Vec<String>, String> {
    if regions.is_empty() {
        return Err(format!("{at}: is empty; list at least one region or leave the key out"));
    }
    let mut seen = BTreeSet::new();
    for (i, region) in regions.iter().enumerate() {
        check_region(region).map_err(|e| format!("{at}[{i}]: {e}"))?;
        if !seen.insert(region) {
            return Err(format!("{at}[{i}]: {region} is listed twice"));
        }
    }
    Ok(regions.to_vec())
}

/// `xx-name-N` or `xx-name-name-N`: lower-case words and a number.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if valid { Ok(()) } else { Err(format!("{region:?} is not an AWS region name such as us-west-2")) }
}

/// The regions with an ADS endpoint.
pub const ADS_REGIONS: &[&str] =
    &["ap-northeast-1", "ap-southeast-2", "eu-central-1", "eu-west-1", "eu-west-2", "us-east-1", "us-west-2"];

fn check_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && super::is_account_id(parts[4])
        && parts[5].strip_prefix("role/").is_some_and(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        });
    if valid { Ok(()) } else { Err(format!("{arn:?} is not a role ARN like arn:aws:iam::111122223333:role/NAME")) }
}

fn check_external_id(id: &str) -> Result<(), String> {
    let valid =
        (2..=1224).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
    if valid { Ok(()) } else { Err("2 to 1,224 letters, digits or +=,.@:/_-".to_owned()) }
}

fn check_session_name(name: &str) -> Result<(), String> {
    let valid =
        (2..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if valid { Ok(()) } else { Err(format!("{name:?}: 2 to 64 letters, digits or +=,.@_-")) }
}

/// One unit per target and region. `region_of` gives the region of a target without regions
/// (its profile's, or the environment's). Two units that collect the same account and region,
/// as far as the configuration tells, refuse the whole list.
pub fn expand(
    targets: &[TargetSpec],
    region_of: impl Fn(&Identity) -> Option<String>,
) -> Result<Vec<(String, UnitSpec)>, String> {
    let mut units: Vec<(String, UnitSpec)> = Vec::new();
    for target in targets {
        let regions = if target.regions.is_empty() {
            let region = region_of(&target.identity).ok_or_else(|| {
                format!(
                    "{}: no region: set regions (here or under defaults), --aws.region, AWS_REGION, or a region in the profile",
                    target.origin
                )
            })?;
            vec![region]
        } else {
            target.regions.clone()
        };
        for region in regions {
            let spec = UnitSpec {
                identity: target.identity.clone(),
                region,
                labels: target.labels.clone(),
                settings: target.settings.clone(),
                filters: target.filters.clone(),
                collectors: target.collectors.clone(),
            };
            for (origin, other) in &units {
                let same_account = match (spec.identity.known_account(), other.identity.known_account()) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                };
                if spec.region == other.region && (same_account || spec.key() == other.key()) {
                    return Err(format!(
                        "{} and {origin} both collect {} in {}: remove one, or give them different regions",
                        target.origin,
                        spec.identity
                            .known_account()
                            .map_or_else(|| spec.identity.to_string(), |a| format!("account {a}")),
                        spec.region
                    ));
                }
            }
            units.push((target.origin.clone(), spec));
        }
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            regions: vec!["us-west-2".to_owned()],
            settings: UnitSettings::default(),
            collectors: Kind::defaults(),
        }
    }

    const FULL: &str = r#"
defaults:
  regions: [eu-west-1]
  collectors: [export-tasks, import_tasks]
  interval: 90s
  timeout: 30s
  page_size: 50
  max_attempts: 2
targets:
  - role_arn: arn:aws:iam::111122223333:role/ads-exporter-read
    external_id: example-external-id
    session_name: ads-reader
    regions: [us-west-2, eu-west-1]
    labels: {programme: dc-exit, wave: "3"}
    filters: {export_ids: [e1], agent_ids: [a1, a2]}
    collectors: [agents, export-tasks]
    interval: 5m
    timeout: 1m
    page_size: 10
    max_attempts: 5
  - profile: migration-sandbox
    account_id: "012345678901"
  - {}
"#;

    #[test]
    fn reads_every_key_with_defaults_and_overrides() {
        let targets = parse(FULL, &defaults()).unwrap();
        assert_eq!(targets.len(), 3);
        let first = &targets[0];
        assert_eq!(first.origin, "targets[0]");
        let role = first.identity.role.as_ref().unwrap();
        assert_eq!(role.arn, "arn:aws:iam::111122223333:role/ads-exporter-read");
        assert_eq!(role.external_id.as_deref(), Some("example-external-id"));
        assert_eq!(role.session_name, "ads-reader");
        assert_eq!(first.regions, ["us-west-2", "eu-west-1"]);
        assert_eq!(first.labels["programme"], "dc-exit");
        assert_eq!(first.labels["wave"], "3");
        assert_eq!(first.filters, Filters { export_ids: vec!["e1".into()], agent_ids: vec!["a1".into(), "a2".into()] });
        assert_eq!(
            first.settings,
            UnitSettings {
                interval: Duration::from_secs(300),
                timeout: Duration::from_secs(60),
                page_size: 10,
                max_attempts: 5
            }
        );
        let second = &targets[1];
        assert_eq!(second.identity.profile.as_deref(), Some("migration-sandbox"));
        assert_eq!(second.identity.known_account(), Some("012345678901"));
        assert_eq!(second.regions, ["eu-west-1"], "from defaults");
        assert_eq!(
            second.settings,
            UnitSettings {
                interval: Duration::from_secs(90),
                timeout: Duration::from_secs(30),
                page_size: 50,
                max_attempts: 2
            }
        );
        assert_eq!(targets[2].identity, Identity::default());
        assert_eq!(first.collectors, BTreeSet::from([Kind::Agents, Kind::ExportTasks]));
        assert_eq!(second.collectors, BTreeSet::from([Kind::ExportTasks, Kind::ImportTasks]), "from defaults");
        assert_eq!(targets[2].identity.role, None);

        let units = expand(&targets, |_| None).unwrap();
        assert_eq!(units.len(), 4);
        assert_eq!(units[1].1.region, "eu-west-1");
        assert_eq!(units[1].0, "targets[0]");
    }

    #[test]
    fn without_defaults_the_flags_decide_and_the_session_name_has_its_default() {
        let targets = parse("targets:\n  - role_arn: arn:aws:iam::111122223333:role/r\n", &defaults()).unwrap();
        assert_eq!(targets[0].regions, ["us-west-2"]);
        assert_eq!(targets[0].settings, UnitSettings::default());
        assert_eq!(targets[0].collectors, Kind::defaults(), "from the flags");
        assert_eq!(targets[0].identity.role.as_ref().unwrap().session_name, "ads_exporter");
        let no_region =
            Defaults { regions: Vec::new(), settings: UnitSettings::default(), collectors: Kind::defaults() };
        let targets = parse("targets:\n  - profile: p\n", &no_region).unwrap();
        assert!(targets[0].regions.is_empty());
        let units = expand(&targets, |identity| (identity.profile.as_deref() == Some("p")).then(|| "eu-west-2".into()));
        assert_eq!(units.unwrap()[0].1.region, "eu-west-2");
        let error = expand(&targets, |_| None).unwrap_err();
        assert!(error.starts_with("targets[0]: no region"), "{error}");
    }

    /// Every collector switched off by the flags: the file may switch some back on, per target
    /// or in its defaults; a target left with none is refused.
    #[test]
    fn the_file_may_switch_collectors_back_on() {
        let all_off = Defaults { collectors: BTreeSet::new(), ..defaults() };
        let error = parse("targets:\n  - {}\n", &all_off).unwrap_err();
        assert!(error.starts_with("targets[0]: no collector"), "{error}");
        let targets = parse("defaults:\n  collectors: [agents]\ntargets:\n  - {}\n", &all_off).unwrap();
        assert_eq!(targets[0].collectors, BTreeSet::from([Kind::Agents]));
        let targets = parse("targets:\n  - collectors: [import-tasks]\n", &all_off).unwrap();
        assert_eq!(targets[0].collectors, BTreeSet::from([Kind::ImportTasks]));
    }

    #[test]
    fn refuses_bad_files_naming_the_key() {
        for (text, expected) in [
            ("", "no targets"),
            ("targets: []\n", "targets: is empty"),
            ("target: []\n", "unknown field `target`"),
            ("targets:\n  - rol_arn: x\n", "targets[0]: unknown field `rol_arn`"),
            ("targets:\n  - role_arn: arn:aws:iam::1:role/x\n", "targets[0].role_arn: "),
            ("targets:\n  - role_arn: arn:aws:s3:::bucket\n", "targets[0].role_arn: "),
            ("targets:\n  - external_id: abc\n", "targets[0].external_id: only applies with role_arn"),
            ("targets:\n  - session_name: abc\n", "targets[0].session_name: only applies with role_arn"),
            (
                "targets:\n  - role_arn: arn:aws:iam::111122223333:role/r\n    session_name: 'a b'\n",
                "targets[0].session_name",
            ),
            ("targets:\n  - regions: []\n", "targets[0].regions: is empty"),
            ("targets:\n  - regions: [us-west2]\n", "targets[0].regions[0]: \"us-west2\" is not an AWS region"),
            ("targets:\n  - regions: [us-west-2, us-west-2]\n", "targets[0].regions[1]: us-west-2 is listed twice"),
            ("targets:\n  - regions: us-west-2\n", "targets[0].regions: invalid type"),
            ("defaults:\n  regions: [EU-west-1]\ntargets:\n  - {}\n", "defaults.regions[0]"),
            ("defaults:\n  interval: 0s\ntargets:\n  - {}\n", "defaults.interval: must be greater than zero"),
            ("targets:\n  - interval: soon\n", "targets[0].interval: \"soon\" is not a duration"),
            ("targets:\n  - interval: 1ns\n", "targets[0].interval: \"1ns\" is not between 100ms and 24h"),
            ("targets:\n  - timeout: 400d\n", "targets[0].timeout: \"400d\" is not between 100ms and 24h"),
            ("targets:\n  - {}\n  - timeout: 60\n", "targets[1].timeout: \"60\" has no unit: write 60s"),
            ("targets:\n  - labels: {wave: 1.10}\n", "targets[0].labels.wave: an unquoted number or boolean"),
            ("targets:\n  - labels: {canary: true}\n", "quote the value as it should read (canary: \"...\")"),
            ("targets:\n  - labels: {a: x, a: y}\n", "targets[0].labels: duplicate label `a`"),
            ("hello\n", "expected a mapping with the keys defaults: and targets:"),
            ("defaults: []\ntargets:\n  - {}\n", "defaults: invalid type: sequence, expected a mapping of settings"),
            (
                "targets:\n  - page_size: big\n",
                "targets[0].page_size: invalid type: string \"big\", expected a whole number",
            ),
            ("targets:\n  - page_size: 101\n", "targets[0].page_size: 101 is not between 1 and 100"),
            ("targets:\n  - max_attempts: 0\n", "targets[0].max_attempts: 0 is not between 1 and 10"),
            ("targets:\n  - profile: ''\n", "targets[0].profile: must not be empty"),
            ("targets:\n  - account_id: 12345\n", "targets[0].account_id: write the account id as a quoted string"),
            ("targets:\n  - account_id: '12345'\n", "targets[0].account_id: \"12345\" is not a 12-digit"),
            (
                "targets:\n  - role_arn: arn:aws:iam::111122223333:role/r\n    account_id: '444455556666'\n",
                "targets[0].account_id: 444455556666 is not the account of role_arn",
            ),
            ("targets:\n  - labels: {job: x}\n", "targets[0].labels: \"job\" is a label the exporter"),
            ("targets:\n  - labels: {aws_region: x}\n", "targets[0].labels: \"aws_region\""),
            ("targets:\n  - labels: {'1st': x}\n", "targets[0].labels: \"1st\" is not a valid label name"),
            ("targets:\n  - labels: {__meta: x}\n", "reserved for Prometheus"),
            ("targets:\n  - labels: {a: [x]}\n", "targets[0].labels.a: a label value is a string"),
            ("targets:\n  - filters: {agent_ids: ['']}\n", "targets[0].filters.agent_ids[0]: must not be empty"),
            ("targets:\n  - filters: {agents: [a]}\n", "targets[0].filters: unknown field `agents`"),
            ("targets:\n  - collectors: []\n", "targets[0].collectors: is empty"),
            (
                "targets:\n  - collectors: [exports]\n",
                "targets[0].collectors[0]: unknown collector \"exports\"; the collectors are export-tasks",
            ),
            ("targets:\n  - collectors: [agents, agents]\n", "targets[0].collectors[1]: agents is listed twice"),
            ("defaults:\n  collectors: [nope]\ntargets:\n  - {}\n", "defaults.collectors[0]: unknown collector"),
            ("targets:\n  - {}\n  - {}\n  - {}\n", "both collect"),
            ("targets: [\n", "did not find expected"),
            ("targets:\n  - profile: a\n    profile: b\n", "duplicate"),
        ] {
            let error = parse(text, &defaults()).and_then(|t| expand(&t, |_| None).map(|_| ())).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
            let key = error.split(": ").next().unwrap();
            assert_eq!(error.matches(&format!("{key}: ")).count(), 1, "the key path once: {error}");
            assert!(!error.contains("Doc") && !error.contains("i64"), "no internal type names: {error}");
        }
    }

    #[test]
    fn every_targets_problem_is_named() {
        let error = parse("targets:\n  - regions: [us-west2]\n  - {}\n  - page_size: 0\n", &defaults()).unwrap_err();
        assert_eq!(
            error,
            "targets[0].regions[0]: \"us-west2\" is not an AWS region name such as us-west-2\n\
             targets[2].page_size: 0 is not between 1 and 100"
        );
    }

    #[test]
    fn duplicate_accounts_and_regions_are_refused_naming_both() {
        let text = "targets:\n  - role_arn: arn:aws:iam::111122223333:role/a\n    regions: [us-west-2, eu-west-1]\n  \
                    - profile: p\n    account_id: '111122223333'\n    regions: [eu-west-1]\n";
        let error = parse(text, &defaults()).and_then(|t| expand(&t, |_| None)).unwrap_err();
        assert_eq!(
            error,
            "targets[1] and targets[0] both collect account 111122223333 in eu-west-1: remove one, or give them different regions"
        );
        let text = "targets:\n  - role_arn: arn:aws:iam::111122223333:role/a\n    regions: [us-west-2]\n  \
                    - role_arn: arn:aws:iam::111122223333:role/b\n    regions: [eu-west-1]\n";
        assert_eq!(expand(&parse(text, &defaults()).unwrap(), |_| None).unwrap().len(), 2);
    }

    #[test]
    fn region_names() {
        for good in ["us-west-2", "us-gov-west-1", "ap-southeast-2", "eu-central-1"] {
            assert_eq!(check_region(good), Ok(()), "{good}");
        }
        for bad in ["", "us-west", "uswest-2", "us-west-2a", "US-west-2", "us--2", "usa-west-2"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
