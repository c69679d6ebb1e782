// Grafana dashboards, by the file name they are shipped under. Each is kept
// as Grafana's own JSON (what its editor exports, so that a change made in
// Grafana is pasted back as it is) with the settings of _config laid over it.
{
  local c = $._config,
  local configure(d) = d {
    tags: c.dashboardTags,
    refresh: c.dashboardRefresh,
    templating+: {
      list: [
        if v.name == 'job'
        then v { query+: { query: 'label_values(b2see_up{%s}, job)' % c.b2seeSelector } }
        else v
        for v in super.list
      ],
    },
  },

  grafanaDashboards+:: {
    'b2see-engagement.json': configure(import 'engagement.json'),
    'b2see-operations.json': configure(import 'operations.json'),
  },
}
