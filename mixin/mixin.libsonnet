// The b2see_exporter monitoring mixin: Prometheus alerts and recording rules
// and Grafana dashboards, with the selector of the exporter's job and the
// alert thresholds in _config (config.libsonnet).
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
