"""Advice derived from what missed its target, in the words of the seed's troubleshooting."""

from __future__ import annotations

from drivers.report.table import Row, RowState
from drivers.thresholds import Verdict

# threshold key -> what to look at when it misses; the seed's "Common Issues" first.
ADVICE: dict[str, str] = {
    "join_total": "Pre-pull the agent image on every Pi and check name resolution of the "
    "control node; a slow join is usually an image pull or a DNS timeout.",
    "join_hardware_profiling": "Hardware profiling is local to the Pi: check for an "
    "overloaded or throttled CPU (see the edge dashboard) and slow SD-card I/O.",
    "join_network_discovery": "Network discovery failures: check mDNS (avahi-daemon) and the "
    "firewall (iptables -L) on the Pi, as the seed's troubleshooting says.",
    "join_certificate_exchange": "Certificate exchange is bound by the manager's CPU and the "
    "round trip: check the control node's load and the link's latency.",
    "memory_footprint": "The agent uses more memory than planned: on a 1 GB Pi add swap "
    "(dphys-swapfile CONF_SWAPSIZE=2048) and look for growth over time in the overview "
    "dashboard.",
    "agent_cpu": "The agent is busy when it should idle: check its log for retry loops and "
    "the heartbeat interval.",
    "join_network_traffic": "Joining moved more data than planned: an image pull during the "
    "join is the usual cause; pre-pull images.",
    "coordination_latency": "Coordination latency is high: prefer wired Gigabit Ethernet to "
    "Wi-Fi, and check the mesh dashboard for the slowest pair.",
    "failure_detection": "Failures are noticed slowly: lower the heartbeat (Docker Swarm: "
    "`docker swarm update --dispatcher-heartbeat 1s`), at the cost of more control traffic.",
    "recovery": "Workloads come back slowly: keep images present on every eligible node and "
    "use short stop grace periods; check that enough capacity remains on the other Pis.",
    "network_overhead": "Control traffic is a large share: raise the heartbeat interval or "
    "reduce gossip (fewer managers), and compare with the failure-detection target.",
}


def recommendations(rows: list[Row]) -> list[str]:
    """One line per threshold that missed its target (or was not measured), worst first."""
    missed = [r for r in rows if r.effective_verdict in (Verdict.ACCEPTABLE, Verdict.FAILED)]
    missed.sort(key=lambda r: (-(r.effective_verdict or 0), r.threshold.key))
    lines = []
    for row in missed:
        if row.state is RowState.NOT_MEASURED:
            lines.append(
                f"{row.threshold.title}: not measured ({row.note}); rerun "
                f"`swarmscope run {row.threshold.scenario}`."
            )
            continue
        advice = ADVICE.get(
            row.threshold.key, "See the threshold's description in thresholds.yaml."
        )
        lines.append(
            f"{row.threshold.title} is {row.current_text}, "
            f"{row.verdict_text} (target {row.threshold.target_text}): {advice}"
        )
    return lines
