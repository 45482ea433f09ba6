// PromQL pieces the alerts and recording rules share, from the mixin's _config.
{
  // `name{selector,matchers}`.
  metric(c, name, matchers=''):: '%s{%s%s}' % [name, c.adsExporterSelector, if matchers == '' then '' else ',' + matchers],

  // `a|b|c` for a regular-expression matcher.
  alternatives(values):: std.join('|', values),

  // Seconds since a collector's last success, as a share of AdsDataStale's threshold (1 or more:
  // stale). Labels: the unit's and `collector`.
  staleness(c, matchers=''):: '(time() - %s) / clamp_min(%d * %s, %d)' % [
    self.metric(c, 'ads_last_collection_success_timestamp_seconds', matchers),
    c.staleIntervals,
    self.metric(c, 'ads_collection_interval_seconds', matchers),
    c.staleMinSeconds,
  ],

  // A Prometheus duration of one unit ('5m') in seconds.
  seconds(duration)::
    local units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    local unit = duration[std.length(duration) - 1];
    std.parseInt(std.substr(duration, 0, std.length(duration) - 1)) * units[unit],

  // The units whose `collector` has fresh data, with the unit's labels and `collector`: its last
  // success is within AdsDataStale's threshold, plus AdsDataStale's `for`, so that an alert about
  // the data holds until AdsDataStale fires in its stead. An alert about AWS data holds while its
  // data is fresh, not only while the last collection worked, so one failed, throttled or slow
  // collection resets no `for`.
  fresh(c, collector):: '(time() - %s < clamp_min(%d * %s, %d) + %d)' % [
    self.metric(c, 'ads_last_collection_success_timestamp_seconds', 'collector="%s"' % collector),
    c.staleIntervals,
    self.metric(c, 'ads_collection_interval_seconds', 'collector="%s"' % collector),
    c.staleMinSeconds,
    self.seconds(c.dataStaleFor),
  ],

  // `expr` while the unit's `collector` data is fresh, matching the unit exactly: every label
  // but those `expr` adds (`extra`) and `collector`, static labels and an empty account included.
  whileFresh(c, expr, collector, extra=[]):: '%s and ignoring (%s) %s' % [
    expr,
    std.join(', ', extra + ['collector']),
    self.fresh(c, collector),
  ],

  // The share of a unit's requests that AWS throttled over `window`.
  throttledShare(c, window):: 'sum without (operation, code) (increase(%s[%s])) / sum without (operation) (increase(%s[%s]))' % [
    self.metric(c, 'ads_api_errors_total', 'code=~"%s"' % self.alternatives(c.throttlingCodes)),
    window,
    self.metric(c, 'ads_api_requests_total'),
    window,
  ],

  // The share of a collector's collections that failed over `window`.
  failureShare(c, window):: 'increase(%s[%s]) / increase(%s[%s])' % [
    self.metric(c, 'ads_collection_failures_total'),
    window,
    self.metric(c, 'ads_collections_total'),
    window,
  ],
}
