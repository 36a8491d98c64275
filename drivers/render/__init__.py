"""Files generated from thresholds.yaml: Prometheus alert rules, their promtool tests, Grafana.

`swarmscope render` writes them and `swarmscope render --check` fails when a committed copy
drifted; ``drivers.render.generate`` lists every file and where it comes from.
"""
