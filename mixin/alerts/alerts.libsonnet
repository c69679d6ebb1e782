// Alerts. Each links to its section of RUNBOOK.md (meaning, impact,
// diagnosis, fix) and carries a severity label and summary and description
// annotations.
{
  local c = $._config,
  local s = c.b2seeSelector,
  // A duration of _config ('5m', '1h') in words, for the descriptions.
  local words(d) =
    local n = std.parseInt(d[0:std.length(d) - 1]);
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[d[std.length(d) - 1]];
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],
  local alert(name, severity, expr, summary, description, holds='') = {
    alert: name,
    expr: expr,
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: '%s#%s' % [c.runbookURL, std.asciiLower(name)],
    },
  } + (if holds == '' then {} else { 'for': holds }),

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'b2see.alerts',
        rules: [
          alert(
            'B2seeExporterDown', c.criticalSeverity,
            'up{%s} == 0' % s,
            'b2see_exporter {{ $labels.instance }} is down',
            'Prometheus has failed to scrape b2see_exporter at {{ $labels.instance }} (job {{ $labels.job }}) for %s. No B2see metrics are being collected from it.' % words(c.exporterDownFor),
            c.exporterDownFor,
          ),
          alert(
            'B2seeAPIDown', c.criticalSeverity,
            'b2see_up{%s} == 0' % s,
            'B2see API unreachable for account {{ $labels.account }}',
            'Every read of the B2see Batch Data API for account {{ $labels.account }} on {{ $labels.instance }} has failed for %s. See b2see_scrape_errors_total{account="{{ $labels.account }}"} for the reason.' % words(c.apiDownFor),
            c.apiDownFor,
          ),
          alert(
            'B2seeUpstreamErrors', c.warningSeverity,
            'account_endpoint:b2see_upstream_request_errors:ratio_rate5m{%s} > %g' % [s, c.upstreamErrorRatio],
            'B2see {{ $labels.endpoint }} requests failing for account {{ $labels.account }}',
            '{{ $value | humanizePercentage }} of requests to the B2see {{ $labels.endpoint }} endpoint for account {{ $labels.account }} on {{ $labels.instance }} failed over the last 5 minutes (rate limiting not counted).',
            c.upstreamErrorsFor,
          ),
          alert(
            'B2seeRateLimited', c.warningSeverity,
            |||
              sum by (job, instance, account, endpoint) (
                rate(b2see_upstream_requests_total{%s, outcome="rate_limited"}[5m])
              ) > 0
            ||| % s,
            'B2see is rate limiting account {{ $labels.account }}',
            'B2see has been answering {{ $labels.endpoint }} requests for account {{ $labels.account }} on {{ $labels.instance }} with rate limiting for %s.' % words(c.rateLimitedFor),
            c.rateLimitedFor,
          ),
          alert(
            'B2seeBatchFailures', c.warningSeverity,
            'increase(b2see_batch_failures_total{%s}[%s]) > 0' % [s, c.batchFailuresWindow],
            'Batches failed for account {{ $labels.account }}',
            '{{ $value | humanize }} batches of account {{ $labels.account }} reached a failed status in the last %s.' % (if c.batchFailuresWindow == '1h' then 'hour' else words(c.batchFailuresWindow)),
          ),
          alert(
            'B2seeBatchesTimedOut', c.warningSeverity,
            'b2see_batches_timed_out{%s} > 0' % s,
            'Timed-out batches for account {{ $labels.account }}',
            '{{ $value | humanize }} batches of account {{ $labels.account }} in the history window ran past their timeout without finishing.',
            c.batchesTimedOutFor,
          ),
          alert(
            'B2seeStaleData', c.warningSeverity,
            'time() - b2see_last_success_timestamp_seconds{%s} > %d' % [s, c.staleDataSeconds],
            'B2see data for account {{ $labels.account }} is stale',
            'The last successful read of B2see data for account {{ $labels.account }} on {{ $labels.instance }} was {{ $value | humanizeDuration }} ago.',
            c.staleDataFor,
          ),
          alert(
            'B2seeStateSaveFailing', c.warningSeverity,
            'b2see_state_last_save_successful{%s} == 0' % s,
            'b2see_exporter {{ $labels.instance }} cannot save its state',
            'b2see_exporter at {{ $labels.instance }} has failed to save its state file for %s. Its counters will restart from zero if it restarts.' % words(c.stateSaveFailingFor),
            c.stateSaveFailingFor,
          ),
          alert(
            'B2seeConfigReloadFailed', c.warningSeverity,
            'b2see_config_last_reload_successful{%s} == 0' % s,
            'b2see_exporter {{ $labels.instance }} failed to reload its configuration',
            'The last configuration reload of b2see_exporter at {{ $labels.instance }} failed; it keeps running with the previous configuration.',
            c.configReloadFailedFor,
          ),
          alert(
            'B2seeBatchStatusLookupsPending', c.infoSeverity,
            'b2see_batch_status_pending_lookups{%s} > %d' % [s, c.pendingLookups],
            'Batch status lookups are piling up for account {{ $labels.account }}',
            '{{ $value | humanize }} batch status lookups of account {{ $labels.account }} on {{ $labels.instance }} have been waiting for %s.' % words(c.pendingLookupsFor),
            c.pendingLookupsFor,
          ),
          alert(
            'B2seeLabelValuesFolded', c.infoSeverity,
            'b2see_label_values_folded{%s} / b2see_label_values{%s} > %g' % [s, s, c.foldedValuesRatio],
            'Most {{ $labels.label }} values of account {{ $labels.account }} are summed into "other"',
            '{{ $value | humanizePercentage }} of the {{ $labels.label }} values of account {{ $labels.account }} on {{ $labels.instance }} are beyond the cap and counted under "other" for %s. Raise the cap if they should have series of their own.' % words(c.foldedValuesFor),
            c.foldedValuesFor,
          ),
        ],
      },
    ],
  },
}
