// What a user of the mixin may set. Override with
//   (import 'mixin.libsonnet') + { _config+:: { b2seeSelector: 'job="b2see"' } }
{
  _config+:: {
    // Selects the exporter's scrape job in every rule and alert expression,
    // and in the dashboards' job variable. The default matches any job whose
    // name contains "b2see" ("b2see", "b2see_exporter", "b2see_shard0").
    b2seeSelector: 'job=~".*b2see.*"',

    // Where each alert's runbook_url points; the alert's name, lower-cased,
    // is the section.
    runbookURL: 'https://github.com/b2see-exporter/b2see_exporter/blob/main/alerts/RUNBOOK.md',

    // Alert thresholds and how long a condition must hold before it fires.
    exporterDownFor: '5m',
    apiDownFor: '15m',
    upstreamErrorRatio: 0.2,  // share of an endpoint's requests that fail
    upstreamErrorsFor: '15m',
    rateLimitedFor: '15m',
    batchFailuresWindow: '1h',  // failures counted over this range
    batchesTimedOutFor: '5m',
    staleDataSeconds: 3600,  // no successful read for this long
    staleDataFor: '5m',
    stateSaveFailingFor: '15m',
    configReloadFailedFor: '5m',
    pendingLookups: 100,  // batch status lookups still to do
    pendingLookupsFor: '30m',
    foldedValuesRatio: 0.5,  // share of a label's values summed into "other"
    foldedValuesFor: '1h',

    // Severities, by how urgent each alert is.
    criticalSeverity: 'critical',
    warningSeverity: 'warning',
    infoSeverity: 'info',

    // Dashboards.
    dashboardTags: ['b2see'],
    dashboardRefresh: '5m',
  },
}
