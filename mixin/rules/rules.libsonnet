// Recording rules: what two alerts compare with their thresholds, per unit, for dashboards and
// SLOs of your own. The alerts and the shipped dashboards query the raw series and do not need
// them.
local promql = import '../lib/promql.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    groups+: [{
      name: 'ads-exporter.rules',
      rules: [
        {
          // Seconds since each collector's last success, as a share of AdsDataStale's threshold.
          record: 'ads:collector_staleness:ratio',
          expr: promql.staleness(c),
        },
        {
          // The share of each unit's requests AWS throttled, over AdsThrottled's window.
          record: 'ads:api_requests_throttled:ratio_increase%s' % c.throttledWindow,
          expr: promql.throttledShare(c, c.throttledWindow),
        },
      ],
    }],
  },
}
