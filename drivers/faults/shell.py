"""Small POSIX-shell building blocks the fault scripts share (dash and busybox compatible)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

q = shlex.quote


def lines(*parts: str | Iterable[str]) -> str:
    """Join shell lines and blocks into one script text."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.extend(part)
    return "\n".join(line for line in out if line) + "\n"


def heredoc(path: str, text: str, marker: str = "__SWARMSCOPE_EOF__") -> str:
    """Write ``text`` verbatim to ``path`` (a quoted here-document: nothing is expanded)."""
    if marker in text:
        raise ValueError("here-document marker inside its own text")
    body = text if text.endswith("\n") else text + "\n"
    return f"cat > {path} <<'{marker}'\n{body}{marker}"


def device_of_route(address: str, into: str = "DEV") -> str:
    """Set ``$DEV`` to the interface the node uses to reach ``address``; fail if none."""
    return lines(
        f"{into}=$(ip -o route get {q(address)} 2>/dev/null "
        r"| sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)",
        f'[ -n "${into}" ] || {{ echo "no route to {address} on this node" >&2; exit 1; }}',
    ).rstrip("\n")


def iptables_chains_undo(chain: str) -> list[str]:
    """Remove the fault's INPUT/OUTPUT chains and every jump to them; tolerant of absence."""
    undo = []
    for hook, suffix in (("INPUT", "in"), ("OUTPUT", "out")):
        name = f"{chain}-{suffix}"
        undo += [
            f"while iptables -w -D {hook} -j {name} 2>/dev/null; do :; done",
            f"iptables -w -F {name} 2>/dev/null",
            f"iptables -w -X {name} 2>/dev/null",
        ]
    return undo


def iptables_chains_apply(chain: str, incoming: list[str], outgoing: list[str]) -> list[str]:
    """Create ``CHAIN-in`` / ``CHAIN-out`` with the given rule bodies, then jump to them
    first thing in INPUT / OUTPUT, so the fault wins over whatever rules were there."""
    apply: list[str] = []
    for hook, suffix, rules in (("INPUT", "in", incoming), ("OUTPUT", "out", outgoing)):
        if not rules:
            continue
        name = f"{chain}-{suffix}"
        apply.append(f"iptables -w -N {name}")
        apply += [f"iptables -w -A {name} {rule}" for rule in rules]
        apply.append(f"iptables -w -I {hook} 1 -j {name}")
    return apply
