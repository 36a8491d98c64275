"""Tests of the swarmlet-exporter (exporters package)."""
