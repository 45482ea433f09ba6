// The alert rules. Every rule about AWS data fires per collector unit: its labels carry the
// unit's aws_account_id and aws_region and the target's static labels (route by them), and its
// annotations name the account and region. Rules that read gauges kept from the last good
// collection hold while that collector's data is fresh (promql.whileFresh): a collection that
// fails now and then resets no `for`; when the data is stale, AdsDataStale speaks instead.
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, matchers='') = promql.metric(c, name, matchers),
    local fresh(expr, collector, extra=[]) = promql.whileFresh(c, expr, collector, extra),
    local unit = 'account {{ $labels.aws_account_id }} in {{ $labels.aws_region }}',
    local rule(name, severity, expr, forDuration, summary, description, keepFiringFor=null) = {
                                                                                                alert: name,
                                                                                                expr: expr,
                                                                                                labels: { severity: severity },
                                                                                                annotations: {
                                                                                                  summary: summary,
                                                                                                  description: description,
                                                                                                  runbook_url: c.runbookURLPattern % std.asciiLower(name),
                                                                                                },
                                                                                              } + (if forDuration == null then {} else { 'for': forDuration })
                                                                                              + (if keepFiringFor == null then {} else { keep_firing_for: keepFiringFor }),

    local failedImports = 'IMPORT_COMPLETE_WITH_ERRORS|IMPORT_FAILED.*|INTERNAL_ERROR',
    local failingContinuous = 'ERROR|START_FAILED|STOP_FAILED',
    local unhealthy(matchers) = 'sum without (state) (%s)' % m('ads_discovery_collectors', 'state=~"unhealthy|shutdown"' + matchers),
    // The annotations of AdsContinuousExportFailing read the export's current status and
    // detail (the alert carries neither, so that a detail that changes neither resolves it nor
    // restarts its `for`); "failing" and "unknown" when the series is gone by then.
    local continuousState(text) =
      '{{ $status := "failing" }}{{ $detail := "unknown" }}{{ with printf `ads_continuous_export_info{job=%q,instance=%q,aws_account_id=%q,aws_region=%q,export_id=%q,status=~"' + failingContinuous + '"}` $labels.job $labels.instance $labels.aws_account_id $labels.aws_region $labels.export_id | query }}{{ with first . }}{{ $status = .Labels.status }}{{ $detail = or .Labels.status_detail "none" }}{{ end }}{{ end }}' + text,

    groups+: [{
      name: 'ads-exporter',
      rules: [
        rule(
          'AdsExporterDown',
          'critical',
          'up{%s} == 0' % c.adsExporterSelector,
          c.exporterDownFor,
          'ads_exporter cannot be scraped.',
          'Prometheus has failed to scrape ads_exporter at {{ $labels.instance }} for %s: nobody sees stuck, failed or truncated ADS exports. Every other ads_exporter alert of this instance is inhibited meanwhile.' % c.exporterDownFor,
        ),
        rule(
          'AdsExporterAbsent',
          'critical',
          'absent(up{%s})' % c.adsExporterSelector,
          c.exporterAbsentFor,
          'No ads_exporter is scraped.',
          'No scrape target matches %s (job {{ $labels.job }}), and none has for %s: the exporter is not deployed, or its scrape job is named otherwise (set adsExporterSelector in the mixin), or service discovery does not find it.' % [c.adsExporterSelector, c.exporterAbsentFor],
        ),
        rule(
          'AdsConfigReloadFailed',
          'warning',
          '%s == 0' % m('ads_config_last_reload_successful'),
          c.configReloadFailedFor,
          'ads_exporter refused its targets file.',
          "The last reload of --config.file on {{ $labels.instance }} failed; the exporter goes on with the targets it had. Its log line 'refused to reload the targets file', its landing page and the answer of POST /-/reload name the key.",
        ),
        rule(
          'AdsTargetsRefused',
          'warning',
          '%s > 0' % m('ads_targets_refused'),
          c.targetsRefusedFor,
          'Units of ads_exporter are refused as duplicates.',
          '{{ $value }} unit(s) of {{ $labels.instance }} collect the same account and region as a unit earlier in the targets file: they export nothing, so no other alert can see them. The landing page and the log line "refusing a unit" name both and what tells them apart.',
        ),
        rule(
          'AdsCollectionFailing',
          'warning',
          '(%s > %g) and increase(%s[%s]) >= 2' % [promql.failureShare(c, c.collectionFailureWindow), c.collectionFailureRatio, m('ads_collections_total'), c.collectionFailureWindow],
          c.collectionFailingFor,
          'ads_exporter fails to collect from ADS.',
          '{{ $value | humanizePercentage }} of the {{ $labels.collector }} collections of %s by {{ $labels.instance }} failed over the last %s; its metrics are the last good ones. See ads_api_errors_total by operation and code, the landing page and the log.' % [unit, c.collectionFailureWindow],
          c.collectionFailingKeepFiringFor,
        ),
        rule(
          'AdsDataStale',
          'warning',
          '(%s > 1) and %s > 0' % [promql.staleness(c), m('ads_last_collection_success_timestamp_seconds')],
          c.dataStaleFor,
          'ADS data of ads_exporter is stale.',
          'The last successful {{ $labels.collector }} collection of %s was longer ago than %d of its intervals (and at least %d s): {{ $value | humanizePercentage }} of that. Its metrics are the last good ones, and the alerts about its data are silent meanwhile.' % [unit, c.staleIntervals, c.staleMinSeconds],
        ),
        rule(
          'AdsExportStuck',
          'warning',
          fresh('%s > %d' % [m('ads_export_task_oldest_request_age_seconds', 'status="IN_PROGRESS"'), c.exportStuckSeconds], 'export_tasks', ['status']),
          c.exportStuckFor,
          'An ADS export has been in progress for too long.',
          'The oldest IN_PROGRESS export of %s was requested {{ $value | humanizeDuration }} ago (more than %d s). Exports normally finish within minutes.' % [unit, c.exportStuckSeconds],
        ),
        rule(
          'AdsExportFailed',
          'warning',
          'increase(%s[%s]) > 0' % [m('ads_export_tasks_completed_total', 'status="FAILED"'), c.newFailuresWindow],
          null,
          'ADS exports failed.',
          '{{ $value | printf "%%.0f" }} export(s) of %s ended FAILED in the last %s (counted as the exporter saw them complete). The alert clears %s after the last one.' % [unit, c.newFailuresWindow, c.newFailuresWindow],
        ),
        rule(
          'AdsExportTruncated',
          'info',
          fresh('(%s - min_over_time(%s[%s]) > 0)' % [m('ads_export_tasks_truncated'), m('ads_export_tasks_truncated'), c.newFailuresWindow], 'export_tasks'),
          null,
          'ADS exports were truncated.',
          '{{ $value }} more export(s) of %s hit the export size limit than at the lowest point of the last %s; their data is incomplete.' % [unit, c.newFailuresWindow],
        ),
        rule(
          'AdsExportsSlow',
          'info',
          'histogram_quantile(0.9, sum without (status) (rate(%s[%s]))) > %d' % [m('ads_export_task_completion_seconds_bucket'), c.exportsSlowWindow, c.exportsSlowSeconds],
          c.exportsSlowFor,
          'ADS exports take long.',
          'Over the last %s, 90%% of the exports of %s that ads_exporter saw complete took up to {{ $value | humanizeDuration }} (an upper bound, by up to one collection interval); they normally take minutes.' % [c.exportsSlowWindow, unit],
        ),
        rule(
          'AdsContinuousExportFailing',
          'warning',
          fresh('max without (status, status_detail) (%s)' % m('ads_continuous_export_info', 'status=~"%s"' % failingContinuous), 'continuous_exports', ['export_id', 'data_source', 's3_bucket']),
          c.continuousExportFailingFor,
          'An ADS continuous export is failing.',
          continuousState('The continuous export {{ $labels.export_id }} ({{ $labels.data_source }} data to S3 bucket {{ $labels.s3_bucket }}) of %s has been failing for %s and is now {{ $status }} (status detail: {{ $detail }}); no new discovery data reaches Athena.' % [unit, c.continuousExportFailingFor]),
        ),
        rule(
          'AdsImportFailed',
          'warning',
          fresh('(%s - min_over_time(%s[%s]) > 0)' % [m('ads_import_tasks', 'status=~"%s"' % failedImports), m('ads_import_tasks', 'status=~"%s"' % failedImports), c.newFailuresWindow], 'import_tasks', ['status']),
          null,
          'ADS imports failed.',
          '{{ $value }} more import(s) of %s have status {{ $labels.status }} than at the lowest point of the last %s: some servers or applications of the imported file are missing from discovery.' % [unit, c.newFailuresWindow],
        ),
        rule(
          'AdsImportStuck',
          'warning',
          fresh('%s > %d' % [m('ads_import_task_oldest_request_age_seconds', 'status="IMPORT_IN_PROGRESS"'), c.importStuckSeconds], 'import_tasks', ['status']),
          c.importStuckFor,
          'An ADS import has been in progress for too long.',
          'The oldest IMPORT_IN_PROGRESS import of %s was requested {{ $value | humanizeDuration }} ago (more than %d s); imports normally finish within minutes.' % [unit, c.importStuckSeconds],
        ),
        rule(
          'AdsCollectorsUnhealthy',
          'warning',
          fresh('(%s - min_over_time(%s[%s:1m]) > 0)' % [unhealthy(''), unhealthy(''), c.collectorsUnhealthyWindow], 'discovery_summary', ['type']),
          c.collectorsUnhealthyFor,
          'ADS agents or collectors went unhealthy.',
          '{{ $value }} more {{ $labels.type }}(s) of %s are unhealthy or shut down than at the best moment of the last %s: the servers they watch send no discovery data.' % [unit, c.collectorsUnhealthyWindow],
          c.collectorsUnhealthyKeepFiringFor,
        ),
        rule(
          'AdsAgentsSilent',
          'warning',
          fresh('%s > %d' % [m('ads_agent_oldest_health_ping_age_seconds', 'health="HEALTHY"'), c.agentSilentSeconds], 'agents', ['health']),
          c.agentsSilentFor,
          'ADS agents stopped reporting.',
          'The oldest health ping of a HEALTHY agent of %s is {{ $value | humanizeDuration }} old (more than %d s): an agent stopped reporting without ADS marking it unhealthy yet.' % [unit, c.agentSilentSeconds],
        ),
        rule(
          'AdsThrottled',
          'warning',
          '(%s >= %g) and (sum without (collector) (increase(%s[%s])) > 0)' % [promql.throttledShare(c, c.throttledWindow), c.throttledRatio, m('ads_collection_failures_total'), c.throttledWindow],
          c.throttledFor,
          'AWS throttles ads_exporter enough to fail collections.',
          'AWS throttled {{ $value | humanizePercentage }} of the requests of %s over the last %s, and collections failed: the SDK retries no longer absorb it.' % [unit, c.throttledWindow],
          c.throttledKeepFiringFor,
        ),
        rule(
          'AdsAuthorizationErrors',
          'critical',
          'sum without (operation) (increase(%s[%s])) >= %d' % [m('ads_api_errors_total', 'code=~"%s"' % promql.alternatives(c.authorizationCodes)), c.authorizationErrorsWindow, c.authorizationErrorsMin],
          c.authorizationErrorsFor,
          'AWS refuses the credentials or permissions of ads_exporter.',
          'AWS refused {{ $value | printf "%%.0f" }} calls of %s with {{ $labels.code }} in the last %s: the credentials, the role and its trust policy, or the IAM policy are wrong. Collection failures and stale data of this unit are inhibited meanwhile.' % [unit, c.authorizationErrorsWindow],
          c.authorizationErrorsKeepFiringFor,
        ),
        rule(
          'AdsLabelValuesCapped',
          'info',
          'label_replace(%s > 0, "family", "$1", "__name__", "(.+)")' % m('', '__name__=~"ads_.+_omitted"'),
          c.labelValuesCappedFor,
          'ads_exporter leaves things out of its series.',
          '{{ $value }} item(s) of %s are counted in {{ $labels.family }} only: their status (or health) is neither modeled nor among the first 20 others, or they are beyond the first 100 listed. A new status of ADS, or a broken endpoint.' % unit,
        ),
      ],
    }],
  },
}
