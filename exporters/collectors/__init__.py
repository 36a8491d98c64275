"""The exporter's collectors, one module per source of data."""
