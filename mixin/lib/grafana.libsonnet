// A few plain functions that make Grafana 10 dashboard JSON: no vendored library. Panels are
// laid out in rows of 24 columns by `layout`, which also numbers them.
local datasource = { type: 'prometheus', uid: '${datasource}' };

{
  datasource:: datasource,

  // A PromQL query. `instant` queries give one value per series (stat panels over long ranges,
  // tables); the others a range.
  query(expr, legend='__auto', instant=false, refId='A'):: {
    datasource: datasource,
    expr: expr,
    legendFormat: legend,
    instant: instant,
    range: !instant,
    refId: refId,
  },

  // Thresholds: `steps` are [value, colour] pairs above the base colour.
  thresholds(base, steps=[]):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [{ color: s[1], value: s[0] } for s in steps],
  },

  // Red from `value` (the matching alert's threshold), green below: bad is never green.
  redFrom(value):: self.thresholds('green', [[value, 'red']]),

  local base(type, title, description, targets, unit, thresholds, extra) = {
    type: type,
    title: title,
    description: description,
    datasource: datasource,
    targets: [t { refId: std.char(65 + i) } for i in std.range(0, std.length(targets) - 1) for t in [targets[i]]],
    fieldConfig: {
      defaults: {
        unit: unit,
        color: { mode: 'thresholds' },
        thresholds: thresholds,
        mappings: [],
      },
      overrides: [],
    },
  } + extra,

  // A single big number per series. `noValue` is what an empty result reads.
  stat(title, description, targets, unit='short', thresholds=self.thresholds('blue'), noValue=null, colorMode='background')::
    base('stat', title, description, targets, unit, thresholds, {
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: colorMode,
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'auto',
        text: {},
      },
    }) + (if noValue == null then {} else { fieldConfig+: { defaults+: { noValue: noValue } } }),

  // Lines over time. `minInterval` (from _config) keeps $__rate_interval long enough for a 60 s
  // scrape; `thresholdLine` draws the matching alert's threshold.
  timeseries(title, description, targets, unit='short', thresholdLine=null, minInterval=null, stack=false)::
    base(
      'timeseries',
      title,
      description,
      targets,
      unit,
      if thresholdLine == null then self.thresholds('green') else self.redFrom(thresholdLine),
      {
        options: {
          legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ) + {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: if stack then 20 else 0,
            showPoints: 'never',
            spanNulls: false,
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
            thresholdsStyle: { mode: if thresholdLine == null then 'off' else 'line' },
          },
        },
      },
    } + (if minInterval == null then {} else { interval: minInterval }),

  // Horizontal bars, one per series.
  bargauge(title, description, targets, unit='short', thresholds=self.thresholds('blue'))::
    base('bargauge', title, description, targets, unit, thresholds, {
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: 'horizontal',
        displayMode: 'basic',
        showUnfilled: true,
      },
    }),

  // A table of instant queries (in table format: one row per series, a column per label)
  // merged on their labels; `columns` renames and orders them, and `overrides` colour them.
  table(title, description, targets, columns, overrides=[], links=[])::
    base('table', title, description, [t { format: 'table' } for t in targets], 'short', self.thresholds('blue'), {
      options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
      transformations: [
        { id: 'merge', options: {} },
        {
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            indexByName: { [columns[i][0]]: i for i in std.range(0, std.length(columns) - 1) },
            renameByName: { [c[0]]: c[1] for c in columns },
          },
        },
      ],
    }) + {
      fieldConfig+: {
        defaults+: { custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false } } + (if links == [] then {} else { links: links }),
        overrides: overrides,
      },
    },

  // A column override: colour the cell's background by thresholds, with a unit and value mappings.
  column(name, unit='short', thresholds=null, mappings=[]):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: 'unit', value: unit }] +
                (if thresholds == null then [] else [
                   { id: 'thresholds', value: thresholds },
                   { id: 'custom.cellOptions', value: { type: 'color-background' } },
                 ]) +
                (if mappings == [] then [] else [{ id: 'mappings', value: mappings }]),
  },

  // A value mapping: `value` shows as `text` in `color`.
  valueText(value, text, color):: {
    type: 'value',
    options: { [std.toString(value)]: { text: text, color: color, index: 0 } },
  },

  row(title):: { type: 'row', title: title, collapsed: false, panels: [] },

  // Lays rows out: each element is a row panel (full width) or an array of [width, height,
  // panel] for one line of panels. Every panel gets its gridPos and an id.
  layout(lines)::
    local place(acc, line) =
      if std.isArray(line) then
        local height = std.foldl(function(h, cell) std.max(h, cell[1]), line, 0);
        local placed = std.foldl(
          function(state, cell) {
            x: state.x + cell[0],
            panels: state.panels + [cell[2] { gridPos: { x: state.x, y: acc.y, w: cell[0], h: cell[1] } }],
          },
          line,
          { x: 0, panels: [] }
        );
        { y: acc.y + height, panels: acc.panels + placed.panels }
      else
        { y: acc.y + 1, panels: acc.panels + [line { gridPos: { x: 0, y: acc.y, w: 24, h: 1 } }] };
    local all = std.foldl(place, lines, { y: 0, panels: [] }).panels;
    [all[i] { id: i + 1 } for i in std.range(0, std.length(all) - 1)],

  // A query variable over the exporter's series.
  variable(name, label, query, multi=true, includeAll=true, allValue='.*'):: {
    name: name,
    label: label,
    type: 'query',
    datasource: datasource,
    definition: query,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    sort: 1,
    hide: 0,
    includeAll: includeAll,
    multi: multi,
    regex: '',
    options: [],
    current: if includeAll then { selected: true, text: ['All'], value: ['$__all'] } else {},
  } + (if includeAll then { allValue: allValue } else {}),

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    refresh: 1,
    regex: '',
    includeAll: false,
    multi: false,
    current: { selected: false, text: 'Prometheus', value: '${DS_PROMETHEUS}' },
    options: [],
  },

  // A whole dashboard, importable as is (with __inputs for the data source).
  dashboard(uid, title, description, tags, refresh, timeFrom, timezone, variables, panels, links=[]):: {
    __inputs: [{
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      description: 'The Prometheus that scrapes ads_exporter',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    }],
    __elements: {},
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
    ] + [
      { type: 'panel', id: t, name: { bargauge: 'Bar gauge', stat: 'Stat', table: 'Table', timeseries: 'Time series' }[t], version: '' }
      for t in std.set([p.type for p in panels if p.type != 'row'])
    ],
    annotations: { list: [] },
    description: description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: links,
    panels: panels,
    refresh: refresh,
    schemaVersion: 39,
    tags: tags,
    templating: { list: [$.datasourceVariable] + variables },
    time: { from: timeFrom, to: 'now' },
    timepicker: {},
    timezone: timezone,
    title: title,
    uid: uid,
    version: 1,
    weekStart: '',
  },
}
