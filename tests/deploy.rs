//! Packaging and deployment files: the Dockerfile passes hadolint, the Kubernetes base renders
//! with kustomize and its core kinds validate strictly, the PrometheusRule is generated from the
//! alert rules, and the IAM policy, systemd unit and Prometheus config are what they claim.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(project(""))
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/test installs it): {e}"))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn rendered() -> Vec<serde_norway::Value> {
    rendered_at("deploy/kubernetes")
}

fn rendered_at(path: &str) -> Vec<serde_norway::Value> {
    let output = run("kubectl", &["kustomize", path]);
    assert!(output.status.success(), "kubectl kustomize {path} failed: {}", text(&output));
    let yaml = String::from_utf8(output.stdout).unwrap();
    serde_norway::Deserializer::from_str(&yaml).map(|doc| serde_norway::Value::deserialize(doc).unwrap()).collect()
}

fn kind<'a>(docs: &'a [serde_norway::Value], kind: &str) -> &'a serde_norway::Value {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind} in the base"))
}

fn default_port() -> String {
    ads_exporter::config::DEFAULT_PORT.to_string()
}

#[test]
fn the_dockerfile_passes_hadolint_and_uses_the_default_port() {
    let output = run("hadolint", &["Dockerfile"]);
    assert!(output.status.success() && text(&output).trim().is_empty(), "hadolint: {}", text(&output));
    let dockerfile = std::fs::read_to_string(project("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {}", default_port())));
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(dockerfile.contains("FROM gcr.io/distroless/static"));
    // For the platform being built, not only x86_64.
    assert!(dockerfile.contains("ARG TARGETARCH"));
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        assert!(dockerfile.contains(target), "{target}");
    }
    assert!(!dockerfile.contains("ARG TARGET="), "no fixed target");
    let ignore = std::fs::read_to_string(project(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"), ".dockerignore lets in only what the build needs");
}

/// Renders a kustomization and validates its core kinds strictly.
fn validate_strictly(path: &str) {
    let output = run("kubectl", &["kustomize", path]);
    assert!(output.status.success(), "{}", text(&output));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &output.stdout).unwrap();
    let validation = run("kubernetes-validate", &["--strict", "--quiet", file.to_str().unwrap()]);
    let report = text(&validation);
    assert!(validation.status.success() && !report.contains("ERROR"), "kubernetes-validate {path}: {report}");
}

#[test]
fn the_kubernetes_base_renders_and_validates_strictly() {
    validate_strictly("deploy/kubernetes");

    let docs = rendered();
    let kinds: Vec<_> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for expected in ["ServiceAccount", "Service", "Deployment", "ServiceMonitor", "PrometheusRule"] {
        assert!(kinds.contains(&expected), "{expected} missing from {kinds:?}");
    }
    // The core kinds passed kubernetes-validate; the Prometheus Operator's are checked here.
    let deployment = kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(container["ports"][0]["containerPort"].as_u64().map(|p| p.to_string()), Some(default_port()));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some("/-/healthy"));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/-/ready"));
    assert!(container["resources"]["limits"]["memory"].as_str().is_some());
    assert_eq!(pod["serviceAccountName"], kind(&docs, "ServiceAccount")["metadata"]["name"]);
    let role = kind(&docs, "ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str();
    assert!(role.is_some_and(|r| r.starts_with("arn:aws:iam::")), "the service account is annotated for IRSA");

    let service = kind(&docs, "Service");
    let monitor = kind(&docs, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
    let job_label = monitor["spec"]["jobLabel"].as_str().unwrap();
    assert_eq!(service["metadata"]["labels"][job_label].as_str(), Some("ads_exporter"), "the alert rules' job name");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(
            &service["metadata"]["labels"][key.as_str().unwrap()],
            value,
            "the ServiceMonitor selects the Service"
        );
    }
}

/// The PrometheusRule holds the very rules of the rules file (both generated from the mixin,
/// which `tests/monitoring.rs` checks).
#[test]
fn the_prometheus_rule_holds_the_alert_rules() {
    let rules: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(project("alerts/ads-exporter.rules.yml")).unwrap()).unwrap();
    let docs = rendered();
    assert_eq!(kind(&docs, "PrometheusRule")["spec"]["groups"], rules["groups"]);
}

#[test]
fn the_sharded_variant_runs_a_statefulset_whose_pods_take_their_shard_from_their_index() {
    validate_strictly("deploy/kubernetes/sharded");
    let docs = rendered_at("deploy/kubernetes/sharded");
    assert!(!docs.iter().any(|d| d["kind"].as_str() == Some("Deployment")), "the StatefulSet replaces the Deployment");
    let set = kind(&docs, "StatefulSet");
    let service = kind(&docs, "Service");
    assert_eq!(set["spec"]["serviceName"], service["metadata"]["name"]);
    assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"), "a headless governing Service");
    for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(
            &set["spec"]["template"]["metadata"]["labels"][key.as_str().unwrap()],
            value,
            "the Service selects the pods"
        );
    }
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_sequence().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(
        var("ADS_EXPORTER_COLLECTOR_SHARD_INDEX")["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.labels['apps.kubernetes.io/pod-index']")
    );
    let count = var("ADS_EXPORTER_COLLECTOR_SHARD_COUNT")["value"].as_str().unwrap().to_owned();
    assert_eq!(count, set["spec"]["replicas"].as_u64().unwrap().to_string(), "as many shards as replicas");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/-/ready"));
    // The targets file it mounts is one the exporter accepts.
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().filter_map(|a| a.as_str()).collect();
    let file = args.iter().find_map(|a| a.strip_prefix("--config.file=")).expect("--config.file");
    let mount = &container["volumeMounts"][0];
    assert!(file.starts_with(mount["mountPath"].as_str().unwrap()));
    let map = kind(&docs, "ConfigMap");
    assert_eq!(set["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"], map["metadata"]["name"]);
    let targets = map["data"]["targets.yml"].as_str().unwrap();
    let defaults = ads_exporter::target::file::Defaults {
        regions: Vec::new(),
        settings: Default::default(),
        collectors: ads_exporter::target::Kind::defaults(),
    };
    let parsed = ads_exporter::target::file::parse(targets, &defaults).expect("the example targets file is valid");
    assert_eq!(ads_exporter::target::file::expand(&parsed, |_| None).unwrap().len(), 5);
    // Every pod is a target of the base's ServiceMonitor.
    let monitor = kind(&docs, "ServiceMonitor");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&service["metadata"]["labels"][key.as_str().unwrap()], value);
    }
}

#[test]
fn the_iam_policies_allow_reading_ads_and_assuming_the_read_roles() {
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(project(path)).unwrap()).unwrap()
    };
    let assume = read("deploy/iam/ads-exporter-assume-roles-policy.json");
    assert_eq!(assume["Statement"][0]["Action"], "sts:AssumeRole");
    assert!(assume["Statement"][0]["Resource"].as_str().unwrap().ends_with(":role/ads-exporter-read"));
    let trust = read("deploy/iam/ads-exporter-read-trust-policy.json");
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
    assert!(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"].is_string());
    assert!(trust["Statement"][0]["Principal"]["AWS"].as_str().unwrap().starts_with("arn:aws:iam::"));
}

/// The policy allows exactly the calls of the collectors on by default, then, in a statement of
/// its own, the agents collector's; the README shows the same policy.
#[test]
fn the_iam_policy_allows_exactly_the_collectors_calls() {
    use ads_exporter::target::Kind;
    let text = std::fs::read_to_string(project("deploy/iam/ads-exporter-policy.json")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    let actions = |s: &serde_json::Value| -> BTreeSet<String> {
        match &s["Action"] {
            serde_json::Value::String(a) => BTreeSet::from([a.clone()]),
            list => list.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        }
    };
    let of = |kinds: &mut dyn Iterator<Item = Kind>| -> BTreeSet<String> {
        kinds.map(|k| format!("discovery:{}", k.operation())).collect()
    };
    for s in statements {
        assert_eq!((s["Effect"].as_str(), s["Resource"].as_str()), (Some("Allow"), Some("*")));
    }
    assert_eq!(actions(&statements[0]), of(&mut Kind::ALL.into_iter().filter(|k| k.on_by_default())));
    assert_eq!(actions(&statements[1]), of(&mut Kind::ALL.into_iter().filter(|k| !k.on_by_default())));
    assert_eq!(actions(&statements[1]), BTreeSet::from(["discovery:DescribeAgents".to_owned()]));
    // The README's copy is the same policy.
    let readme = std::fs::read_to_string(project("README.md")).unwrap();
    let section = &readme[readme.find("### IAM permission").expect("an IAM permission section")..];
    let block = section.split("```json\n").nth(1).unwrap().split("```").next().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(block).unwrap(), policy, "the README's policy");
}

#[test]
fn the_systemd_unit_verifies() {
    // systemd-analyze checks that ExecStart exists: point it at the binary under test.
    let unit = std::fs::read_to_string(project("deploy/systemd/ads_exporter.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ads_exporter.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/ads_exporter", env!("CARGO_BIN_EXE_ads_exporter"))).unwrap();
    let output = run("systemd-analyze", &["verify", path.to_str().unwrap()]);
    assert!(output.status.success() && text(&output).trim().is_empty(), "systemd-analyze verify: {}", text(&output));
    for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "CapabilityBoundingSet="] {
        assert!(unit.contains(hardening), "{hardening}");
    }
}

#[test]
fn the_prometheus_example_config_is_valid() {
    let output = run("promtool", &["check", "config", "deploy/prometheus/prometheus.yml"]);
    assert!(output.status.success(), "{}", text(&output));
    let config = std::fs::read_to_string(project("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(config.contains("job_name: ads_exporter"));
    assert!(config.contains(&format!(":{}", default_port())));
}
