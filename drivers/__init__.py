"""swarmscope control side: CLI, cluster backends, scenarios, load, faults, lab and report."""

__version__ = "0.1.0"
