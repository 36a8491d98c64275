"""`swarmscope grafana push|check`: upload the dashboards, or run their queries on Prometheus."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError
from drivers.monitoring.prometheus_api import PrometheusAPI
from drivers.render import dashboards as dashboard_catalog
from drivers.render.dashboard_queries import DashboardQueryChecker
from drivers.render.provisioning import FOLDER_TITLE, FOLDER_UID
from drivers.render.upload import credential_from_env, load_dashboards, push
from drivers.thresholds import REPO_ROOT, load_thresholds
from drivers.units import parse_duration

DEFAULT_DASHBOARDS = REPO_ROOT / dashboard_catalog.DASHBOARDS_DIR


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "grafana",
        help="upload the dashboards to a Grafana, or check their queries against Prometheus",
        description="Work with the generated Grafana dashboards (grafana/dashboards/).",
    )
    commands = parser.add_subparsers(dest="grafana_command", metavar="ACTION", required=True)

    upload = commands.add_parser(
        "push",
        help="create or update the dashboards in an existing Grafana",
        description="Upload every dashboard of grafana/dashboards/ into a folder of a running "
        "Grafana (created if missing; dashboards are matched by uid and overwritten). "
        "Credentials come from the environment: GRAFANA_TOKEN (a service account token), "
        "or GRAFANA_USER and GRAFANA_PASSWORD. Each dashboard has a `Prometheus` variable: "
        "pick your Grafana's Prometheus datasource there.",
        epilog="example: GRAFANA_TOKEN=glsa_... swarmscope grafana push --url http://grafana:3000",
    )
    upload.add_argument("--url", required=True, help="Grafana's base URL")
    upload.add_argument("--user", help="basic-auth user (default $GRAFANA_USER)")
    upload.add_argument("--folder", default=FOLDER_TITLE, help="folder title (default %(default)s)")
    upload.add_argument("--folder-uid", default=FOLDER_UID, help="folder uid (%(default)s)")
    upload.add_argument(
        "--dashboards", type=Path, default=DEFAULT_DASHBOARDS, help="directory of dashboard JSON"
    )
    upload.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    upload.set_defaults(func=run_push)

    check = commands.add_parser(
        "check",
        help="run every panel query against a Prometheus; fail on invalid or empty ones",
        description="Take every panel query, annotation and template variable of the "
        "dashboards, run it against Prometheus' HTTP API as Grafana would (variables set to "
        "All) and list each as ok, empty or invalid. Exit 1 if any is invalid, or empty "
        "without a documented reason (e.g. Pi-only panels in the lab).",
        epilog="example: swarmscope grafana check --prometheus http://10.77.0.2:9090",
    )
    check.add_argument("--prometheus", required=True, metavar="URL", help="Prometheus base URL")
    check.add_argument(
        "--dashboards", type=Path, default=DEFAULT_DASHBOARDS, help="directory of dashboard JSON"
    )
    check.add_argument(
        "--window", default="15m", help="how far back range queries look (%(default)s)"
    )
    check.add_argument("--verbose-ok", action="store_true", help="also list the queries that pass")
    check.set_defaults(func=run_check)


def run_push(args: argparse.Namespace) -> int:
    credential = credential_from_env(user=args.user)
    uploaded = push(
        args.url,
        credential,
        load_dashboards(args.dashboards),
        folder_uid=args.folder_uid,
        folder_title=args.folder,
        timeout=args.timeout,
    )
    base = args.url.rstrip("/")
    for item in uploaded:
        print(f"{item.title}: {base}{item.url}")
    print(f"{len(uploaded)} dashboards in folder {args.folder!r} at {base}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    try:
        window = parse_duration(args.window)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from None
    api = PrometheusAPI(args.prometheus)
    api.query("vector(1)")  # one clear error if Prometheus does not answer at all
    checker = DashboardQueryChecker(
        api,
        window_seconds=window,
        allowed_empty=dashboard_catalog.empty_allowed(load_thresholds()),
    )
    failed = 0
    total = 0
    for dashboard in load_dashboards(args.dashboards):
        for result in checker.check(dashboard):
            total += 1
            failed += result.failed
            if result.failed or args.verbose_ok or result.status != "ok":
                print(result.line())
    print(f"{total - failed} of {total} dashboard queries answered; {failed} failed")
    return 1 if failed else 0
