"""Cluster backends: one module per orchestrator behind the protocol in ``base``."""
