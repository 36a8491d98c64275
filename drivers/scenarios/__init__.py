"""Benchmark scenarios, one module per section of the seed; the order is `run all`'s order.

Scenario modules are imported to build the CLI, so they must import heavy libraries (docker,
locust, matplotlib) inside ``run``, not at module level.
"""

# name -> module exposing SCENARIO. Cheap, non-destructive scenarios first; faults last.
SCENARIO_MODULES: dict[str, str] = {
    "join": "drivers.scenarios.join",
    "placement": "drivers.scenarios.placement",
    "scheduling": "drivers.scenarios.scheduling",
    "migration": "drivers.scenarios.migration",
    "mesh": "drivers.scenarios.mesh",
    "edge": "drivers.scenarios.edge",
    "failure": "drivers.scenarios.failure",
}
