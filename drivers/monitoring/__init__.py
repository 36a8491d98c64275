"""How the monitoring stack (Prometheus, Pushgateway, Alertmanager) learns about a cluster."""
