// The ads_exporter monitoring mixin: alert rules, recording rules and Grafana dashboards for the
// exporter of AWS Application Discovery Service. Import it with your own _config:
//
//   local ads = (import 'mixin.libsonnet') + { _config+:: { adsExporterSelector: 'job="ads"' } };
//   { 'ads.rules.yml': std.manifestYamlDoc(ads.prometheusAlerts) }
//
// `scripts/generate-mixin` writes the files the project ships from it.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
