"""The load drivers' own Locust options, and the facts every user reads from them.

Options set on the master travel to every worker with the test, so the launcher passes the
peers *document* (not a path: the control node's file does not exist on a Pi). What is
local to a worker comes from its environment: ``SWARMSCOPE_NODE`` says which node it runs
on (default: the hostname).

Imports no Locust: the launcher in the ``swarmscope`` process builds command lines from the
same names.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters.mesh.peers import Mesh, PeersFileError, loads, read

NODE_ENV = "SWARMSCOPE_NODE"
PEERS_ENV = "SWARMSCOPE_MESH_PEERS"
INVENTORY_ENV = "SWARMSCOPE_INVENTORY"
DONE_MESSAGE = "swarmscope_node_done"
# Message stress presets: messages in the whole run (split over the nodes) x bytes each.
# "seed" is the plan's own test: 10,000 x 1 KB broadcast from all nodes.
STRESS_PRESETS: dict[str, tuple[int, int]] = {
    "seed": (10_000, 1024),
    "100k": (100_000, 1024),
    "1m": (1_000_000, 1024),
    "large": (10_000, 64 * 1024),
}


class LoadOptionError(Exception):
    """A load option is missing or wrong; the message names it."""


@dataclass(frozen=True)
class LoadOption:
    """One option of the load drivers, declared once for Locust and for `swarmscope load`."""

    flag: str
    kwargs: dict[str, Any]
    # Shown in Locust's web UI and offered by `swarmscope load`; the rest are plumbing the
    # launcher fills in itself.
    public: bool = True

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


OPTIONS: tuple[LoadOption, ...] = (
    LoadOption(
        "--mesh-peers",
        {
            "default": os.environ.get(PEERS_ENV, ""),
            "help": f"mesh peers file; default ${PEERS_ENV}",
        },
        public=False,
    ),
    LoadOption(
        "--mesh-peers-document",
        {"default": "", "help": "the peers file's content; the master sends it to every worker"},
        public=False,
    ),
    LoadOption("--message-size", {"type": int, "default": 1024, "help": "bytes per message"}),
    LoadOption(
        "--batch-messages",
        {"type": int, "default": 100, "help": "messages per write (one Locust event each)"},
    ),
    LoadOption(
        "--window",
        {"type": int, "default": 4, "help": "batches in flight per peer before waiting"},
    ),
    LoadOption(
        "--messages-total",
        {
            "type": int,
            "default": 0,
            "help": "messages in the whole run, split over the nodes (0: until stopped)",
        },
    ),
    LoadOption(
        "--broadcast",
        {
            "action": "store_true",
            "default": False,
            "help": "send every batch to every peer (default: one peer per batch, in turn)",
        },
    ),
    LoadOption(
        "--bulk-bytes", {"type": int, "default": 32 * 2**20, "help": "most bytes per bulk stream"}
    ),
    LoadOption(
        "--bulk-seconds",
        {
            "type": float,
            "default": 0.0,
            "help": "end each bulk stream after this long (0: after --bulk-bytes)",
        },
    ),
    LoadOption(
        "--bulk-targets",
        {
            "choices": ("rpi", "all"),
            "default": "rpi",
            "help": "bulk streams go to the Pis (default) or to every peer",
        },
    ),
    LoadOption(
        "--workload-image",
        {
            "default": "",
            "help": "image of the scheduling-load workloads (default: the lab's busybox in a "
            "lab, else busybox:latest)",
        },
    ),
    LoadOption(
        "--schedule-timeout",
        {
            "type": float,
            "default": 60.0,
            "help": "seconds a workload may take to run before it counts as failed",
        },
    ),
    LoadOption(
        "--stages",
        {"default": "", "help": "load shape DURATION:USERS:SPAWN_RATE,... (locustfile 'stages')"},
        public=False,
    ),
    LoadOption(
        "--summary-file",
        {"default": "", "help": "write the run's stats and node reports here when Locust quits"},
        public=False,
    ),
    LoadOption(
        "--thresholds-file",
        {"default": "", "help": "thresholds.yaml judged for the exit code (default: the repo's)"},
    ),
)


def add_arguments(parser: Any) -> None:
    """Register every option on Locust's parser (``events.init_command_line_parser``).

    On the parser itself, not a group: Locust's ``include_in_web_ui`` only works there.
    """
    for option in OPTIONS:
        parser.add_argument(option.flag, include_in_web_ui=option.public, **option.kwargs)


def add_cli_arguments(parser: Any) -> None:
    """The public options on `swarmscope load`, defaulting to "not given" (Locust's default)."""
    group = parser.add_argument_group("load options (passed on to Locust)")
    for option in OPTIONS:
        if option.public:
            kwargs = {k: v for k, v in option.kwargs.items() if k != "default"}
            group.add_argument(option.flag, default=None, **kwargs)


def forwarded_arguments(args: Any) -> list[str]:
    """The public options given on `swarmscope load`, as Locust command-line arguments."""
    argv: list[str] = []
    for option in OPTIONS:
        value = getattr(args, option.dest, None) if option.public else None
        if value is None or value is False:
            continue
        argv += [option.flag] if value is True else [option.flag, str(value)]
    return argv


@dataclass(frozen=True)
class MessageSettings:
    size: int
    batch: int
    window: int
    messages_total: int
    broadcast: bool

    @classmethod
    def of(cls, options: Any) -> MessageSettings:
        settings = cls(
            size=_int(options, "message_size"),
            batch=_int(options, "batch_messages"),
            window=_int(options, "window"),
            messages_total=_int(options, "messages_total"),
            broadcast=_bool(options, "broadcast"),
        )
        if settings.size < 1 or settings.batch < 1 or settings.window < 1:
            raise LoadOptionError("--message-size, --batch-messages and --window must be >= 1")
        if settings.messages_total < 0:
            raise LoadOptionError("--messages-total must be >= 0")
        return settings


def local_node() -> str:
    return os.environ.get(NODE_ENV) or socket.gethostname()


def load_mesh(options: Any) -> Mesh:
    """The mesh from the shipped document, else from ``--mesh-peers``; LoadOptionError if none."""
    document = getattr(options, "mesh_peers_document", "") or ""
    try:
        if document:
            return loads(document, "--mesh-peers-document")
        path = getattr(options, "mesh_peers", "") or ""
        if path:
            return read(Path(path))
    except PeersFileError as exc:
        raise LoadOptionError(str(exc)) from None
    raise LoadOptionError(f"no mesh peers: pass --mesh-peers FILE or set ${PEERS_ENV}")


def _int(options: Any, name: str) -> int:
    value = getattr(options, name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LoadOptionError(f"--{name.replace('_', '-')}: {value!r} is not a number") from None


def _bool(options: Any, name: str) -> bool:
    value = getattr(options, name, False)
    if isinstance(value, str):  # the web UI's form sends text
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
