"""`swarmscope run mesh`: discovery time, pairwise latency matrix, GPU -> Pi bandwidth, stress.

Section 3 of the seed, measured in four steps:

1. survey: every node probes every other node's exporter at once (``exporters.mesh.survey``
   over SSH), giving the discovery time (a node's first probe until every peer answered)
   and every raw RTT sample: per pair and overall mean, p50, p99 and max;
2. bandwidth: Locust, one worker per GPU node, bulk TCP streams to each Pi in turn;
3. stress: Locust, one worker per node, each node broadcasting its share of a fixed number
   of messages (the seed's 10,000 x 1 KB by default) and reporting when done;
4. figures into the run directory (``coordination_latency``: the mean RTT of each pair, the
   figure the report judges) and to the Pushgateway for Grafana.

Sub-millisecond RTTs come from the survey (the exporter's prober); Locust's own latency figures
have 1 ms resolution and are not used for them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.inventory import Node
from drivers.scenarios.base import ScenarioContext
from exporters.mesh.peers import Mesh, dumps

log = logging.getLogger(__name__)
MB = 1e6


class MeshScenario:
    name = "mesh"
    help = "mesh discovery time, latency matrix, GPU->Pi bandwidth and message stress test"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from drivers.load.options import STRESS_PRESETS  # noqa: PLC0415 - keep the CLI lean

        parser.add_argument("--probes", type=int, default=200, help="probes per pair")
        parser.add_argument(
            "--probe-interval", type=float, default=0.02, help="seconds between probes"
        )
        parser.add_argument(
            "--probe-timeout", type=float, default=2.0, help="seconds before a probe is lost"
        )
        parser.add_argument(
            "--bandwidth-seconds",
            type=float,
            default=3.0,
            help="how long to stream from the GPU node(s) to each Pi (0 skips)",
        )
        parser.add_argument(
            "--bulk-bytes",
            type=int,
            default=2**30,
            help="end a stream early after this many bytes (default 1 GiB)",
        )
        parser.add_argument(
            "--stress-preset",
            choices=sorted(STRESS_PRESETS),
            default="seed",
            help="messages x size of the stress test (seed: 10,000 x 1 KB broadcast)",
        )
        parser.add_argument(
            "--stress-messages",
            type=int,
            default=None,
            help="override the preset's message count (0 skips the stress test)",
        )
        parser.add_argument(
            "--stress-timeout",
            type=float,
            default=300.0,
            help="give up on the stress test after this many seconds",
        )
        parser.add_argument(
            "--node-python",
            default=None,
            help="Python with swarmscope installed on the nodes (default: this one in the "
            "lab, python3 on real nodes)",
        )

    def run(self, context: ScenarioContext) -> None:
        options = context.options
        _check_options(options)
        from drivers.load.launcher import default_node_python  # noqa: PLC0415
        from drivers.monitoring.peers import mesh_of  # noqa: PLC0415

        inventory = context.inventory
        if len(inventory.nodes) < 2:
            raise SwarmscopeError("the mesh needs at least two nodes in the inventory")
        mesh = mesh_of(inventory)
        python = options.node_python or default_node_python(inventory)
        context.run.write_json("samples/mesh-peers.json", json.loads(dumps(mesh)))
        missing = _survey(context, mesh, python)
        if options.bandwidth_seconds > 0:
            _bandwidth(context, mesh, python)
        if _stress_messages(options) > 0:
            _stress(context, mesh, python)
        _push(context)
        if missing:
            raise SwarmscopeError(
                f"{len(missing)} pair(s) never answered a probe: {', '.join(missing[:8])}"
                + (" ..." if len(missing) > 8 else "")
                + " (is swarmlet-exporter running with --mesh-peers on those nodes?)"
            )


SCENARIO = MeshScenario()


def _check_options(options: argparse.Namespace) -> None:
    if options.probes < 1 or options.probe_interval <= 0 or options.probe_timeout <= 0:
        raise SwarmscopeError(
            "--probes, --probe-interval and --probe-timeout must be positive", exit_code=2
        )
    if options.bulk_bytes < 1 or options.bandwidth_seconds < 0 or options.stress_timeout <= 0:
        raise SwarmscopeError(
            "--bulk-bytes and --stress-timeout must be positive, --bandwidth-seconds 0 or more",
            exit_code=2,
        )
    if options.stress_messages is not None and options.stress_messages < 0:
        raise SwarmscopeError("--stress-messages must be 0 or more", exit_code=2)


def _survey(context: ScenarioContext, mesh: Mesh, python: str) -> list[str]:
    from drivers.monitoring import mesh_survey as survey  # noqa: PLC0415

    options = context.options
    settings = survey.SurveySettings(options.probes, options.probe_interval, options.probe_timeout)
    nodes = context.inventory.nodes
    print(
        f"[mesh] probing all {len(nodes) * (len(nodes) - 1)} pairs, "
        f"{settings.count} probes each, from every node at once",
        file=sys.stderr,
    )
    results = survey.run_surveys(nodes, context.ssh, python, mesh, settings)
    context.run.write_json("samples/mesh-survey.json", results)
    pairs = survey.pair_stats(results)
    context.run.write_samples_csv(
        "mesh-rtt",
        ["source", "destination", "probe", "rtt_seconds"],
        (
            (p.source, p.destination, index, f"{value:.9f}")
            for p in pairs
            for index, value in enumerate(p.samples)
        ),
    )
    found = survey.discovery(results)
    matrix = {p.pair: p.summary() for p in pairs}
    total = survey.overall(pairs)
    figures: dict[str, Any] = {
        # The threshold's reading: the mean RTT of each pair (the report takes the worst).
        "coordination_latency": {
            pair: stats["mean"] for pair, stats in matrix.items() if stats["mean"] is not None
        },
        "discovery_seconds": found.seconds,
        "latency_overall": total,
    }
    context.run.add_figures(
        "mesh",
        figures,
        details={
            "latency_matrix": matrix,
            "discovery_per_node_seconds": found.per_node,
            "kernel_timestamps": {n: r.get("kernel_timestamps") for n, r in results.items()},
            "unanswered_pairs": list(found.missing),
            "probes": {"count": settings.count, "interval_seconds": settings.interval},
        },
    )
    if total["mean"] is not None:
        print(
            f"[mesh] RTT over all pairs: mean {total['mean'] * 1e3:.3f} ms, p50 "
            f"{total['p50'] * 1e3:.3f} ms, p99 {total['p99'] * 1e3:.3f} ms, max "
            f"{total['max'] * 1e3:.3f} ms; discovery "
            + (f"{found.seconds:.3f} s" if found.seconds is not None else "incomplete"),
            file=sys.stderr,
        )
    return list(found.missing)


def _run_locust(
    context: ScenarioContext,
    step: str,
    *,
    locustfile: str,
    user_class: str,
    workers: tuple[Node, ...],
    run_time: float,
    extra: tuple[str, ...],
    mesh: Mesh,
    python: str,
) -> dict[str, Any]:
    """One headless distributed Locust run, one user per worker node; its summary."""
    from drivers.load import launcher  # noqa: PLC0415

    host = launcher.address_towards(workers[0].address)
    log_dir = context.run.path / "samples" / f"locust-{step}"
    plan = launcher.LocustPlan(
        locustfile=locustfile,
        worker_nodes=workers,
        user_classes=(user_class,),
        users=len(workers),
        spawn_rate=len(workers),
        run_time=run_time,
        master_host=host,
        master_port=launcher.free_port(host),
        mesh=mesh,
        extra_args=extra,
        node_python=python,
        summary_file=log_dir / "summary.json",
    )
    run = launcher.LocustRun(plan, context.ssh, log_dir)
    context.on_cleanup(f"locust {step}", run.stop)
    run.start()
    code = run.wait()
    run.stop()
    if plan.summary_file is None or not plan.summary_file.exists():
        raise SwarmscopeError(
            f"Locust ({step}) exited {code} without a summary; see {run.master_log}"
        )
    summary: dict[str, Any] = json.loads(plan.summary_file.read_text())
    for error in summary.get("errors", []):
        log.warning(
            "[mesh] %s: %s x%d: %s", step, error["name"], error["occurrences"], error["error"]
        )
    return summary


def _bandwidth(context: ScenarioContext, mesh: Mesh, python: str) -> None:
    from drivers.load.figures import bandwidth_by_pair  # noqa: PLC0415

    options = context.options
    gpus = tuple(n for n in context.inventory.nodes if n.type == "gpu")
    if not gpus:
        log.warning("[mesh] no GPU node in the inventory: bandwidth skipped")
        context.run.add_figures("mesh", details={"bandwidth": "skipped: no GPU node"})
        return
    pis = [n for n in context.inventory.nodes if n.type == "rpi"]
    print(
        f"[mesh] bandwidth: a {options.bandwidth_seconds:g} s bulk stream from "
        f"{', '.join(n.name for n in gpus)} to each of {len(pis)} Pis",
        file=sys.stderr,
    )
    summary = _run_locust(
        context,
        "bandwidth",
        locustfile="bandwidth",
        user_class="BulkStreamUser",
        workers=gpus,
        # Each Pi once, with a second of slack per stream for its start and acknowledgement.
        run_time=len(pis) * (options.bandwidth_seconds + 1.0) + 2.0,
        extra=(
            *("--bulk-bytes", str(options.bulk_bytes)),
            *("--bulk-seconds", f"{options.bandwidth_seconds:g}"),
        ),
        mesh=mesh,
        python=python,
    )
    bandwidth = bandwidth_by_pair(summary)
    context.run.add_figures(
        "mesh",
        {"bandwidth_bytes_per_second": bandwidth},
        details={"bandwidth_locust": summary["stats"]},
    )
    for pair, rate in sorted(bandwidth.items()):
        print(f"[mesh] {pair.replace('->', ' -> ')}: {rate / MB:.2f} MB/s", file=sys.stderr)
    unmeasured = sorted(
        f"{gpu.name}->{pi.name}"
        for gpu in gpus
        for pi in pis
        if f"{gpu.name}->{pi.name}" not in bandwidth
    )
    if unmeasured:
        raise SwarmscopeError(
            f"bandwidth: no bulk stream completed for {', '.join(unmeasured)}; "
            "see samples/locust-bandwidth/"
        )


def _stress_messages(options: argparse.Namespace) -> int:
    from drivers.load.options import STRESS_PRESETS  # noqa: PLC0415

    if options.stress_messages is not None:
        return int(options.stress_messages)
    return STRESS_PRESETS[options.stress_preset][0]


def _stress(context: ScenarioContext, mesh: Mesh, python: str) -> None:
    from drivers.load.figures import stress_throughput  # noqa: PLC0415
    from drivers.load.options import STRESS_PRESETS  # noqa: PLC0415

    options = context.options
    messages = _stress_messages(options)
    size = STRESS_PRESETS[options.stress_preset][1]
    nodes = context.inventory.nodes
    print(
        f"[mesh] stress: {messages} x {size} B messages broadcast from all {len(nodes)} nodes",
        file=sys.stderr,
    )
    summary = _run_locust(
        context,
        "stress",
        locustfile="messages",
        user_class="MessageStreamUser",
        workers=nodes,
        # The run ends when every node has reported; the run time only bounds it.
        run_time=options.stress_timeout,
        extra=(
            *("--messages-total", str(messages), "--message-size", str(size)),
            "--broadcast",
        ),
        mesh=mesh,
        python=python,
    )
    figures = stress_throughput(summary)
    reported = {str(r.get("node")) for r in summary.get("node_reports", [])}
    silent = sorted({n.name for n in nodes} - reported)
    context.run.add_figures(
        "mesh",
        {"stress": figures} if figures else {},
        details={"stress_node_reports": summary.get("node_reports", [])},
    )
    if figures:
        print(
            f"[mesh] processed {figures['messages']} messages in {figures['seconds']:.2f} s: "
            f"{figures['throughput_bytes_per_second'] / MB:.2f} MB/s (seed formula), "
            f"{figures['delivered_bytes_per_second'] / MB:.2f} MB/s delivered",
            file=sys.stderr,
        )
    if silent:
        raise SwarmscopeError(
            f"stress: node(s) {', '.join(silent)} did not finish their messages within "
            f"{options.stress_timeout:g}s; see samples/locust-stress/"
        )


def _push(context: ScenarioContext) -> None:
    from prometheus_client import CollectorRegistry, Gauge  # noqa: PLC0415

    record = context.run.scenarios()["mesh"]
    figures, details = record.figures, record.details

    def fill(registry: CollectorRegistry) -> None:
        pair = ["source", "destination"]
        rtt = Gauge(
            "swarmscope_mesh_rtt_seconds",
            "Round-trip time per pair from the last mesh survey, by statistic.",
            [*pair, "statistic"],
            registry=registry,
        )
        for name, stats in details.get("latency_matrix", {}).items():
            source, _, destination = name.partition("->")
            for statistic in ("mean", "p50", "p99", "max"):
                if stats.get(statistic) is not None:
                    rtt.labels(source, destination, statistic).set(stats[statistic])
        if figures.get("discovery_seconds") is not None:
            Gauge(
                "swarmscope_mesh_discovery_seconds",
                "Time until every node had an answer from every peer.",
                registry=registry,
            ).set(figures["discovery_seconds"])
        bandwidth = Gauge(
            "swarmscope_mesh_bandwidth_bytes_per_second",
            "Bulk TCP stream rate from a GPU node to a Pi.",
            pair,
            registry=registry,
        )
        for name, rate in figures.get("bandwidth_bytes_per_second", {}).items():
            source, _, destination = name.partition("->")
            bandwidth.labels(source, destination).set(rate)
        stress = figures.get("stress")
        if stress:
            Gauge(
                "swarmscope_mesh_stress_throughput_bytes_per_second",
                "Message stress test: messages x size over the whole test (the seed's formula).",
                registry=registry,
            ).set(stress["throughput_bytes_per_second"])

    context.pusher.push("mesh", fill)
