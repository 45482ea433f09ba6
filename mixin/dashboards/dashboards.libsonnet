// Two dashboards: an overview of every unit (is all well, and if not, where?) and a drill-down
// of one unit (what exactly), linked both ways. Every threshold is the matching alert's, from
// _config, with the alert's aggregation; bad is red, never green.
local g = import '../lib/grafana.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local overviewUid = '%s-overview' % c.dashboardUidPrefix,
    local unitUid = '%s-unit' % c.dashboardUidPrefix,

    // The variables' filters: a unit's series, and the process-wide ones (no account or region).
    // The mixin's selector first (a namespace in it reaches every panel), then the variables.
    local F = '%s, job=~"$job", instance=~"$instance", aws_account_id=~"$aws_account_id", aws_region=~"$aws_region"' % c.adsExporterSelector,
    local P = '%s, job=~"$job", instance=~"$instance"' % c.adsExporterSelector,
    local m(name, matchers='') = '%s{%s%s}' % [name, if matchers == '' then '' else matchers + ', ', F],
    local byUnit = 'job, instance, aws_account_id, aws_region',

    local failedContinuous = 'ERROR|START_FAILED|STOP_FAILED',
    local failedImports = 'IMPORT_COMPLETE_WITH_ERRORS|IMPORT_FAILED.*|INTERNAL_ERROR',
    local throttling = std.join('|', c.throttlingCodes),
    local authorization = std.join('|', c.authorizationCodes),

    // The alerts' own expressions over the dashboard's filters.
    local staleness = '(time() - %s) / clamp_min(%d * %s, %d)' % [
      m('ads_last_collection_success_timestamp_seconds'),
      c.staleIntervals,
      m('ads_collection_interval_seconds'),
      c.staleMinSeconds,
    ],
    local failureShare = 'increase(%s[%s]) / increase(%s[%s])' % [
      m('ads_collection_failures_total'),
      c.collectionFailureWindow,
      m('ads_collections_total'),
      c.collectionFailureWindow,
    ],
    // AdsCollectionFailing's condition: more than the share failed, of two collections or more.
    local failing = '(%s > %g) and increase(%s[%s]) >= 2' % [failureShare, c.collectionFailureRatio, m('ads_collections_total'), c.collectionFailureWindow],
    // Staleness of the collectors that have succeeded (AdsDataStale leaves the others out).
    local stalenessOfSucceeded = '(%s) and %s > 0' % [staleness, m('ads_last_collection_success_timestamp_seconds')],
    local throttledShare(by) = 'sum by (%s) (increase(%s[%s])) / sum by (%s) (increase(%s[%s]))' % [
      by,
      m('ads_api_errors_total', 'code=~"%s"' % throttling),
      c.throttledWindow,
      by,
      m('ads_api_requests_total'),
      c.throttledWindow,
    ],
    local unhealthy = 'sum without (state) (%s)' % m('ads_discovery_collectors', 'state=~"unhealthy|shutdown"'),
    // Series that were never above zero in the range are left out; a series that falls to zero
    // stays, with its zeros (no gaps).
    local nonZero(expr, by, series, over) = '%s and on (%s) (sum by (%s) (%s(%s[$__range] @ end())) > 0)' % [expr, by, by, over, series],

    local variables(single) = [
      g.variable('job', 'Job', 'label_values(ads_up{%s}, job)' % c.adsExporterSelector, multi=false, includeAll=false),
      g.variable('instance', 'Instance', 'label_values(ads_up{job=~"$job"}, instance)', allValue='.+'),
      g.variable('aws_account_id', 'AWS account', 'label_values(ads_up{job=~"$job", instance=~"$instance"}, aws_account_id)', multi=!single, includeAll=!single),
      g.variable('aws_region', 'AWS region', 'label_values(ads_up{job=~"$job", instance=~"$instance", aws_account_id=~"$aws_account_id"}, aws_region)', multi=!single, includeAll=!single),
    ],
    local link(title, uid, tooltip) = {
      title: title,
      type: 'link',
      url: '/d/%s/?${job:queryparam}&${instance:queryparam}' % uid,
      tooltip: tooltip,
      icon: 'dashboard',
      keepTime: true,
      includeVars: false,
      asDropdown: false,
      targetBlank: false,
      tags: [],
    },
    local up = [g.valueText(1, 'up', 'green'), g.valueText(0, 'failing', 'red')],
    // An age of 0 is the `or vector(0)` of no task in progress: say so.
    local noneRunning = { fieldConfig+: { defaults+: { mappings: [g.valueText(0, 'none running', 'blue')] } } },

    'ads-exporter-overview.json': g.dashboard(
      overviewUid,
      'ADS exporter: every account and region',
      'Is all well with every account and region that ads_exporter watches, and if not, where? Red is what an alert fires on, at its threshold. Click an account in the table for its own dashboard.',
      c.dashboardTags,
      c.dashboardRefresh,
      c.dashboardTimeFrom,
      c.dashboardTimezone,
      variables(false),
      g.layout([
        g.row('Now'),
        [
          [3, 4, g.stat('Units watched', 'Collector units (an account in a region) exporting series.', [g.query('count(count by (%s) (%s))' % [byUnit, m('ads_up')], instant=true)])],
          [3, 4, g.stat('Collectors failing', 'Collectors of which more than %g of the collections failed over the last %s (AdsCollectionFailing). The table below and the unit dashboard say which.' % [c.collectionFailureRatio, c.collectionFailureWindow], [g.query('count(%s) or vector(0)' % failing, instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Stale collectors', 'Collectors whose last success is older than %d of their intervals, and %d s (AdsDataStale).' % [c.staleIntervals, c.staleMinSeconds], [g.query('count((%s > 1) and %s > 0) or vector(0)' % [staleness, m('ads_last_collection_success_timestamp_seconds')], instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Refused units', 'Units refused because a unit earlier in the targets file collects the same account and region (AdsTargetsRefused); they export nothing.', [g.query('sum(ads_targets_refused{%s})' % P, instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Stuck exports', 'Units whose oldest export in progress was requested more than %d s ago (AdsExportStuck).' % c.exportStuckSeconds, [g.query('count(%s > %d) or vector(0)' % [m('ads_export_task_oldest_request_age_seconds', 'status="IN_PROGRESS"'), c.exportStuckSeconds], instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Failed exports (%s)' % c.newFailuresWindow, 'Exports seen to end FAILED in the last %s (AdsExportFailed).' % c.newFailuresWindow, [g.query('round(sum(increase(%s[%s])))' % [m('ads_export_tasks_completed_total', 'status="FAILED"'), c.newFailuresWindow], instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Failing continuous exports', 'Continuous exports in %s (AdsContinuousExportFailing).' % failedContinuous, [g.query('count(%s) or vector(0)' % m('ads_continuous_export_info', 'status=~"%s"' % failedContinuous), instant=true)], thresholds=g.redFrom(1))],
          [3, 4, g.stat('Units refused by AWS (%s)' % c.authorizationErrorsWindow, 'Units of which AWS refused %d or more requests for credentials or permissions in the last %s (AdsAuthorizationErrors).' % [c.authorizationErrorsMin, c.authorizationErrorsWindow], [g.query('count(sum by (%s, code) (increase(%s[%s])) >= %d) or vector(0)' % [byUnit, m('ads_api_errors_total', 'code=~"%s"' % authorization), c.authorizationErrorsWindow, c.authorizationErrorsMin], instant=true)], thresholds=g.redFrom(1))],
        ],
        g.row('Every unit'),
        [[24, 9, g.table(
          'Units',
          'One row per unit: whether its last collections worked, how stale its stalest collector is (as a share of the AdsDataStale threshold), its oldest export in progress, failed exports, AWS errors and the throttled share of its requests. Click the account for the unit dashboard.',
          [
            g.query('min by (%s) (%s)' % [byUnit, m('ads_up')], instant=true),
            g.query('max by (%s) (%s)' % [byUnit, stalenessOfSucceeded], instant=true),
            g.query('max by (%s) (%s)' % [byUnit, m('ads_export_task_oldest_request_age_seconds', 'status="IN_PROGRESS"')], instant=true),
            g.query('round(sum by (%s) (increase(%s[%s])))' % [byUnit, m('ads_export_tasks_completed_total', 'status="FAILED"'), c.newFailuresWindow], instant=true),
            g.query('round(sum by (%s) (increase(%s[1h])))' % [byUnit, m('ads_api_errors_total')], instant=true),
            g.query(throttledShare(byUnit), instant=true),
          ],
          [
            ['aws_account_id', 'Account'],
            ['aws_region', 'Region'],
            ['instance', 'Instance'],
            ['Value #A', 'Last collections'],
            ['Value #B', 'Staleness'],
            ['Value #C', 'Oldest export in progress'],
            ['Value #D', 'Failed exports (%s)' % c.newFailuresWindow],
            ['Value #E', 'AWS errors (1h)'],
            ['Value #F', 'Throttled (%s)' % c.throttledWindow],
            ['job', 'Job'],
          ],
          [
            g.column('Last collections', thresholds=g.thresholds('red', [[1, 'green']]), mappings=up),
            g.column('Staleness', 'percentunit', g.redFrom(1)),
            g.column('Oldest export in progress', 's', g.redFrom(c.exportStuckSeconds)),
            g.column('Failed exports (%s)' % c.newFailuresWindow, thresholds=g.redFrom(1)),
            g.column('Throttled (%s)' % c.throttledWindow, 'percentunit', g.redFrom(c.throttledRatio)),
            {
              matcher: { id: 'byName', options: 'Account' },
              properties: [{ id: 'links', value: [{
                title: 'This unit',
                url: '/d/%s/?${__url_time_range}&var-job=${__data.fields.Job}&var-instance=${__data.fields.Instance}&var-aws_account_id=${__data.fields.Account}&var-aws_region=${__data.fields.Region}' % unitUid,
              }] }],
            },
          ],
        )]],
        g.row('Over time'),
        [
          [12, 8, g.timeseries('Collection failure share, by unit', "The share of each unit's collections that failed over the last %s, its worst collector; AdsCollectionFailing fires at the red line." % c.collectionFailureWindow, [g.query('max by (%s) (%s)' % [byUnit, failureShare], '{{aws_account_id}} {{aws_region}}')], 'percentunit', c.collectionFailureRatio)],
          [12, 8, g.timeseries('Throttled share of requests, by unit', "The share of each unit's requests that AWS throttled over the last %s; AdsThrottled fires above the red line while collections fail." % c.throttledWindow, [g.query(throttledShare(byUnit), '{{aws_account_id}} {{aws_region}}')], 'percentunit', c.throttledRatio)],
        ],
        [
          [12, 8, g.timeseries('Exports completed in the last hour, by status', 'Exports seen to complete in the hour before each point, by final status. A rising FAILED line is exports failing as they finish.', [g.query('sum by (status) (increase(%s[1h]))' % m('ads_export_tasks_completed_total'), '{{status}}')])],
          [12, 8, g.timeseries('AWS errors per second, by code', 'Failed requests per second by error code (codes without any error in the time range are left out); the README has a runbook for each code.', [g.query(nonZero('sum by (code) (rate(%s[$__rate_interval]))' % m('ads_api_errors_total'), 'code', m('ads_api_errors_total'), 'increase'), '{{code}}')], 'reqps', minInterval=c.minRateInterval)],
        ],
      ]),
      [link('One account and region', unitUid, 'The drill-down of one unit')],
    ),

    'ads-exporter-unit.json': g.dashboard(
      unitUid,
      'ADS exporter: one account and region',
      'Everything ads_exporter knows of one account in one region: export tasks and their lifecycle, continuous exports, imports, agents and collectors, and how its collections go. Red is what an alert fires on, at its threshold.',
      c.dashboardTags,
      c.dashboardRefresh,
      c.dashboardTimeFrom,
      c.dashboardTimezone,
      variables(true),
      g.layout([
        g.row('Collections of this unit'),
        [
          [6, 5, g.stat('Collectors', "Whether each collector's last collection worked. A failing one serves its last good data.", [g.query('max by (collector) (%s)' % m('ads_up'), '{{collector}}', instant=true)], thresholds=g.thresholds('red', [[1, 'green']])) + { fieldConfig+: { defaults+: { mappings: up } } }],
          [6, 5, g.stat('Staleness', "Seconds since each collector's last success, as a share of its AdsDataStale threshold (%d intervals, at least %d s): red from 100%%." % [c.staleIntervals, c.staleMinSeconds], [g.query('max by (collector) (%s)' % stalenessOfSucceeded, '{{collector}}', instant=true)], 'percentunit', g.redFrom(1))],
          [6, 5, g.stat('Pages per collection', "Pages each collector's last collection read (100 items a page; the summary is one call).", [g.query('max by (collector) (%s)' % m('ads_collection_pages'), '{{collector}}', instant=true)])],
          [6, 5, g.stat('Collection failures (1 h)', 'Failed collections in the last hour, by collector.', [g.query('round(sum by (collector) (increase(%s[1h])))' % m('ads_collection_failures_total'), '{{collector}}', instant=true)], thresholds=g.thresholds('blue', [[1, 'orange']]))],
        ],
        g.row('Export tasks'),
        [
          [8, 5, g.stat('Exports by status', 'Export tasks per status now. FAILED exports need a look: start them again, with a shorter time range if they keep failing.', [g.query('sum by (status) (%s)' % m('ads_export_tasks'), '{{status}}', instant=true)])],
          [4, 5, g.stat('Oldest export in progress', 'How long ago the oldest IN_PROGRESS export was requested; AdsExportStuck fires from %d s.' % c.exportStuckSeconds, [g.query('max(%s) or vector(0)' % m('ads_export_task_oldest_request_age_seconds', 'status="IN_PROGRESS"'), instant=true)], 's', g.redFrom(c.exportStuckSeconds)) + noneRunning],
          [4, 5, g.stat('Newest successful export', 'When the newest SUCCEEDED export was requested.', [g.query('max(%s) * 1000' % m('ads_export_task_newest_request_timestamp_seconds', 'status="SUCCEEDED"'), instant=true)], 'dateTimeFromNow', colorMode='none')],
          [4, 5, g.stat('New truncations (%s)' % c.newFailuresWindow, 'More truncated exports than at the lowest point of the last %s (AdsExportTruncated): their data is incomplete.' % c.newFailuresWindow, [g.query('sum(%s - min_over_time(%s[%s]))' % [m('ads_export_tasks_truncated'), m('ads_export_tasks_truncated'), c.newFailuresWindow], instant=true)], thresholds=g.redFrom(1))],
          [4, 5, g.stat('Failed exports (%s)' % c.newFailuresWindow, 'Exports seen to end FAILED in the last %s (AdsExportFailed).' % c.newFailuresWindow, [g.query('round(sum(increase(%s[%s])))' % [m('ads_export_tasks_completed_total', 'status="FAILED"'), c.newFailuresWindow], instant=true)], thresholds=g.redFrom(1))],
        ],
        [
          [12, 8, g.timeseries('Exports by status', 'The counts over time: a rising FAILED line is new failures; IN_PROGRESS should come back down.', [g.query('sum by (status) (%s)' % m('ads_export_tasks'), '{{status}}')])],
          [12, 8, g.timeseries('Age of the oldest export in progress', "The oldest IN_PROGRESS export's age; AdsExportStuck fires above the red line.", [g.query('max(%s)' % m('ads_export_task_oldest_request_age_seconds', 'status="IN_PROGRESS"'), 'oldest IN_PROGRESS')], 's', c.exportStuckSeconds)],
        ],
        g.row('Export lifecycle'),
        [
          [8, 8, g.timeseries('Completions in the last hour, by status', 'Exports seen to complete in the hour before each point, by final status.', [g.query('sum by (status) (increase(%s[1h]))' % m('ads_export_tasks_completed_total'), '{{status}}')])],
          [8, 8, g.timeseries('Completion time over the last hour', 'p50, p90 and p99 of how long the exports completed in the hour before each point took (an upper bound, by up to one collection interval). AdsExportsSlow judges the p90 over %s: the stat beside it.' % c.exportsSlowWindow, [g.query('histogram_quantile(%s, sum by (le) (rate(%s[1h])))' % [q, m('ads_export_task_completion_seconds_bucket')], 'p%d' % (100 * std.parseJson(q))) for q in ['0.5', '0.9', '0.99']], 's')],
          [4, 8, g.stat('Completed (24 h)', 'Exports completed in the last day, by final status.', [g.query('round(sum by (status) (increase(%s[24h])))' % m('ads_export_tasks_completed_total'), '{{status}}', instant=true)])],
          [4, 8, g.stat('p90 completion time (%s)' % c.exportsSlowWindow, 'The p90 of completion times over %s; AdsExportsSlow fires from %d s.' % [c.exportsSlowWindow, c.exportsSlowSeconds], [g.query('histogram_quantile(0.9, sum by (le) (rate(%s[%s])))' % [m('ads_export_task_completion_seconds_bucket'), c.exportsSlowWindow], instant=true)], 's', g.redFrom(c.exportsSlowSeconds), noValue='no completions')],
        ],
        g.row('Continuous exports'),
        [
          [8, 7, g.stat('Continuous exports by status', 'Continuous exports per status (statuses with none left out).', [g.query('sum by (status) (%s) > 0' % m('ads_continuous_exports'), '{{status}}', instant=true)])],
          [4, 7, g.stat('Failing continuous exports', 'Continuous exports in %s (AdsContinuousExportFailing).' % failedContinuous, [g.query('count(%s) or vector(0)' % m('ads_continuous_export_info', 'status=~"%s"' % failedContinuous), instant=true)], thresholds=g.redFrom(1))],
          [12, 7, g.table('Continuous exports', 'One row per continuous export: id, status, status detail code, data source, S3 bucket. The detail says what to fix (see the runbook of AdsContinuousExportFailing).', [g.query('max by (export_id, status, status_detail, data_source, s3_bucket) (%s)' % m('ads_continuous_export_info'), instant=true)], [['export_id', 'Export'], ['status', 'Status'], ['status_detail', 'Detail'], ['data_source', 'Data source'], ['s3_bucket', 'S3 bucket'], ['Value', 'Value']], [
            { matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'custom.hidden', value: true }] },
          ])],
        ],
        g.row('Imports'),
        [
          [8, 8, g.bargauge('Imports by status', 'Import tasks per status (statuses with none left out).', [g.query('sum by (status) (%s) > 0' % m('ads_import_tasks'), '{{status}}', instant=true)])],
          [6, 8, g.stat('Import records', 'Server and application records imported and failed, over every import.', [g.query('sum by (kind, result) (%s)' % m('ads_import_task_records'), '{{kind}} {{result}}', instant=true)])],
          [5, 8, g.stat('New failed imports (%s)' % c.newFailuresWindow, 'More imports failed or completed with errors than at the lowest point of the last %s (AdsImportFailed).' % c.newFailuresWindow, [g.query('sum(%s - min_over_time(%s[%s]))' % [m('ads_import_tasks', 'status=~"%s"' % failedImports), m('ads_import_tasks', 'status=~"%s"' % failedImports), c.newFailuresWindow], instant=true)], thresholds=g.redFrom(1))],
          [5, 8, g.stat('Oldest import in progress', 'How long ago the oldest IMPORT_IN_PROGRESS import was requested; AdsImportStuck fires from %d s.' % c.importStuckSeconds, [g.query('max(%s) or vector(0)' % m('ads_import_task_oldest_request_age_seconds', 'status="IMPORT_IN_PROGRESS"'), instant=true)], 's', g.redFrom(c.importStuckSeconds)) + noneRunning],
        ],
        g.row('Agents and collectors'),
        [
          [6, 7, g.stat('Discovered', 'Servers, applications, servers in applications and servers with tags.', [
            g.query('sum(%s)' % m('ads_discovery_servers'), 'servers', instant=true),
            g.query('sum(%s)' % m('ads_discovery_applications'), 'applications', instant=true),
            g.query('sum(%s)' % m('ads_discovery_servers_mapped_to_applications'), 'in applications', instant=true),
            g.query('sum(%s)' % m('ads_discovery_servers_mapped_to_tags'), 'with tags', instant=true),
          ])],
          [8, 7, g.bargauge('Agents and collectors by state', 'Agents, connectors, Migration Evaluator and agentless collectors per state (those with none left out).', [g.query('sum by (type, state) (%s) > 0' % m('ads_discovery_collectors'), '{{type}} {{state}}', instant=true)])],
          [5, 7, g.stat('Newly unhealthy (%s)' % c.collectorsUnhealthyWindow, 'More agents and collectors unhealthy or shut down than at the best moment of the last %s (AdsCollectorsUnhealthy).' % c.collectorsUnhealthyWindow, [g.query('sum(%s - min_over_time(%s[%s:1m]))' % [unhealthy, unhealthy, c.collectorsUnhealthyWindow], instant=true)], thresholds=g.redFrom(1))],
          [5, 7, g.stat('Oldest ping of a healthy agent', 'How old the oldest health ping of a HEALTHY agent is (agents collector); AdsAgentsSilent fires from %d s.' % c.agentSilentSeconds, [g.query('max(%s)' % m('ads_agent_oldest_health_ping_age_seconds', 'health="HEALTHY"'), instant=true)], 's', g.redFrom(c.agentSilentSeconds), noValue='no agents collector')],
        ],
        [
          [12, 8, g.timeseries('Unhealthy or shut down, by type', 'Unhealthy and shut-down agents and collectors over time, by type.', [g.query('sum by (type) (%s)' % m('ads_discovery_collectors', 'state=~"unhealthy|shutdown"'), '{{type}}')])],
          [12, 8, g.timeseries('Agents by health', 'Agents by health over time (agents collector); healths no agent had in the time range are left out.', [g.query(nonZero('sum by (health) (%s)' % m('ads_agents'), 'health', m('ads_agents'), 'max_over_time'), '{{health}}')])],
        ],
        g.row('Collections over time'),
        [
          [8, 8, g.timeseries('Collection failure share, by collector', "The share of each collector's collections that failed over the last %s; AdsCollectionFailing fires at the red line." % c.collectionFailureWindow, [g.query('max by (collector) (%s)' % failureShare, '{{collector}}')], 'percentunit', c.collectionFailureRatio)],
          [8, 8, g.timeseries('Collection duration', 'How long collections take, by collector; near --collector.timeout they are about to time out.', [g.query('max by (collector) (%s)' % m('ads_collection_duration_seconds'), '{{collector}}')], 's')],
          [8, 8, g.timeseries('Throttled share of requests', 'The share of requests AWS throttled over the last %s; AdsThrottled fires above the red line while collections fail.' % c.throttledWindow, [g.query(throttledShare(byUnit), 'throttled')], 'percentunit', c.throttledRatio)],
        ],
        [
          [12, 8, g.timeseries('AWS requests per second, by operation', 'Requests per second by operation, retries included.', [g.query('sum by (operation) (rate(%s[$__rate_interval]))' % m('ads_api_requests_total'), '{{operation}}')], 'reqps', minInterval=c.minRateInterval)],
          [12, 8, g.timeseries('AWS errors per second, by code', 'Failed requests per second by code (codes without any error in the time range are left out); the README has a runbook for each.', [g.query(nonZero('sum by (code) (rate(%s[$__rate_interval]))' % m('ads_api_errors_total'), 'code', m('ads_api_errors_total'), 'increase'), '{{code}}')], 'reqps', minInterval=c.minRateInterval)],
        ],
      ]),
      [link('Every account and region', overviewUid, 'The overview of every unit')],
    ),
  },
}
