"""swarmlet-exporter: the per-node Prometheus exporter of swarmscope, light enough for a Pi."""

__version__ = "0.1.0"
