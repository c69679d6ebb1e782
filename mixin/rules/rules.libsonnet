// Recording rules, named level:metric:operations. The level "account" keeps
// the target labels (job, instance) and the account label;
// "account_endpoint" adds the upstream endpoint.
{
  prometheusRules+:: {
    local s = $._config.b2seeSelector,
    groups+: [
      {
        name: 'b2see.recording',
        rules: [
          // Window gauges summed over product types and senders: what each
          // account sent and had watched in the last days_of_history days.
          {
            record: 'account:b2see_window_batches_sent:sum',
            expr: 'sum by (job, instance, account) (b2see_window_batches_sent{%s})' % s,
          },
          {
            record: 'account:b2see_window_batches_watched:sum',
            expr: 'sum by (job, instance, account) (b2see_window_batches_watched{%s})' % s,
          },
          // Share of the batches sent that were watched at least once.
          // Accounts that sent nothing have no ratio rather than a division
          // by zero.
          {
            record: 'account:b2see_watch_rate:ratio',
            expr: |||
              account:b2see_window_batches_watched:sum{%(s)s}
                / (account:b2see_window_batches_sent:sum{%(s)s} > 0)
            ||| % { s: s },
          },

          // Daily sums from the true counters, for long-range boards and
          // reports.
          {
            record: 'account:b2see_batches_created:increase1d',
            expr: 'sum by (job, instance, account) (increase(b2see_batches_created_total{%s}[1d]))' % s,
          },
          {
            record: 'account:b2see_landing_page_watches:increase1d',
            expr: 'sum by (job, instance, account) (increase(b2see_landing_page_watches_total{%s}[1d]))' % s,
          },
          {
            record: 'account:b2see_video_plays:increase1d',
            expr: 'sum by (job, instance, account) (increase(b2see_video_plays_total{%s}[1d]))' % s,
          },
          {
            record: 'account_state:b2see_customer_action_value:increase1d',
            expr: 'sum by (job, instance, account, state) (increase(b2see_customer_action_value_total{%s}[1d]))' % s,
          },

          // Upstream request rates per endpoint. Errors leave out
          // rate_limited, which has its own alert and a different remedy.
          {
            record: 'account_endpoint:b2see_upstream_requests:rate5m',
            expr: 'sum by (job, instance, account, endpoint) (rate(b2see_upstream_requests_total{%s}[5m]))' % s,
          },
          {
            record: 'account_endpoint:b2see_upstream_request_errors:rate5m',
            expr: |||
              sum by (job, instance, account, endpoint) (
                rate(b2see_upstream_requests_total{%s, outcome!~"success|rate_limited"}[5m])
              )
            ||| % s,
          },
          {
            record: 'account_endpoint:b2see_upstream_request_errors:ratio_rate5m',
            expr: |||
              account_endpoint:b2see_upstream_request_errors:rate5m{%(s)s}
                / (account_endpoint:b2see_upstream_requests:rate5m{%(s)s} > 0)
            ||| % { s: s },
          },
        ],
      },
    ],
  },
}
