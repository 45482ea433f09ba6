// The mixin's settings. Override any of them when you import the mixin:
//
//   (import 'mixin.libsonnet') + { _config+:: { adsExporterSelector: 'job="ads"', exportStuckSeconds: 4 * 3600 } }
//
// Durations are Prometheus durations ('5m'); thresholds are in seconds unless named otherwise.
{
  _config+:: {
    // The exporter's scrape job(s): every alert and the dashboards' $job variable select it.
    adsExporterSelector: 'job="ads_exporter"',

    // Where each alert's runbook is: %s is the alert's name in lower case (the README's anchors).
    runbookURLPattern: 'https://github.com/ads-exporter/ads_exporter/blob/main/README.md#%s',

    // The exporter itself.
    exporterDownFor: '5m',
    exporterAbsentFor: '10m',
    configReloadFailedFor: '5m',
    targetsRefusedFor: '5m',

    // A collector's data is fresh while its last successful collection is at most this many of
    // its intervals old, and at least staleMinSeconds: the alerts about AWS data hold while the
    // data is fresh (not only while the last collection worked), so that a collection that fails
    // now and then resets no alert; AdsDataStale speaks when it is not.
    staleIntervals: 3,
    staleMinSeconds: 900,
    // In one unit ('5m', '300s'): the freshness gate adds it to the threshold.
    dataStaleFor: '5m',

    // AdsCollectionFailing: more than this share of a collector's collections failed over the
    // window (which holds two collections or more: raise it for intervals over 7 minutes), for
    // this long; it keeps firing a while after, so that a unit failing about this share of the
    // time does not flap.
    collectionFailureRatio: 0.5,
    collectionFailureWindow: '15m',
    collectionFailingFor: '10m',
    collectionFailingKeepFiringFor: '15m',

    // AdsExportStuck: the oldest export in progress is older than this.
    exportStuckSeconds: 7200,
    exportStuckFor: '5m',

    // AdsExportFailed, AdsExportTruncated, AdsImportFailed: new ones in this window.
    newFailuresWindow: '1h',

    // AdsExportsSlow: the p90 of completion times over exportsSlowWindow is above this.
    exportsSlowSeconds: 3600,
    exportsSlowWindow: '1d',
    exportsSlowFor: '30m',

    // AdsContinuousExportFailing.
    continuousExportFailingFor: '5m',

    // AdsImportStuck: the oldest import in progress is older than this.
    importStuckSeconds: 7200,
    importStuckFor: '15m',

    // AdsCollectorsUnhealthy: more agents or collectors of a type unhealthy or shut down than at
    // the best moment of this window.
    collectorsUnhealthyWindow: '1h',
    collectorsUnhealthyFor: '10m',
    collectorsUnhealthyKeepFiringFor: '15m',

    // AdsAgentsSilent: a HEALTHY agent's oldest health ping is older than this.
    agentSilentSeconds: 3600,
    agentsSilentFor: '15m',

    // AdsThrottled: this share (or more) of a unit's requests throttled over the window, while
    // its collections fail. Throttling that the SDK's retries absorb does not alert.
    throttledRatio: 0.2,
    throttledWindow: '15m',
    throttledFor: '10m',
    throttledKeepFiringFor: '15m',

    // AdsAuthorizationErrors: this many such errors (or more) in the window: a single
    // transient refusal does not page.
    authorizationErrorsMin: 2,
    authorizationErrorsWindow: '10m',
    authorizationErrorsFor: '5m',
    authorizationErrorsKeepFiringFor: '15m',

    // AdsLabelValuesCapped: a family counts things in its `*_omitted` gauge.
    labelValuesCappedFor: '30m',

    // The error codes the alerts select: ADS's and STS's spellings.
    throttlingCodes: ['ThrottlingException', 'Throttling'],
    authorizationCodes: [
      'credentials',
      'AuthorizationErrorException',
      'AccessDeniedException',
      'AccessDenied',
      'UnrecognizedClientException',
      'InvalidClientTokenId',
      'ExpiredTokenException',
      'ExpiredToken',
      'InvalidSignatureException',
      'SignatureDoesNotMatch',
      'MissingAuthenticationTokenException',
      'HomeRegionNotSetException',
    ],

    // The dashboards.
    dashboardUidPrefix: 'ads-exporter',
    dashboardTags: ['aws', 'ads', 'migration', 'ads_exporter'],
    dashboardRefresh: '1m',
    dashboardTimeFrom: 'now-6h',
    dashboardTimezone: '',
    // The smallest interval of every rate panel: with Grafana's default scrape interval setting
    // (15 s), $__rate_interval is then at least this plus 15 s, which holds two samples of a
    // 60 s scrape. (Or set the data source's "Scrape interval" to your real one.)
    minRateInterval: '2m',
  },
}
