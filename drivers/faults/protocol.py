"""The scripts that make a fault undo itself: arm a timer on the target, then apply.

State on the target, in one directory per node (``/run/swarmscope/faults`` on real nodes:
a reboot, which undoes every runtime fault, also forgets them)::

    ID.record    the fault record (JSON), present while the fault is active
    ID.revert    the undo script: cancels the timer, undoes, stops the fault's processes
    ID.timer     PID of the detached timer (its own session and process group)
    ID.pids      "PID PATTERN" of each process the fault started (stress-ng, a delayer)
    reverted.log "ID TIME WHO" for every revert (WHO: timer, hand, failed)

The timer is ``setsid sh -c 'sleep D; exec sh ID.revert timer'`` with its output detached,
so neither a killed controller nor a dropped SSH connection nor sshd can stop it. A revert
by hand kills the timer's process group first; a lock (flock, where present) keeps a timer
and a hand revert from running the undo at the same time, and the second finds nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from drivers.faults import shell
from drivers.faults.kinds import APPLIED_MARK, ERRORS_LOG, MECHANISM_MARK, FaultPlan
from drivers.faults.model import FaultRecord
from drivers.faults.shell import q

REAL_STATE_DIR = "/run/swarmscope/faults"
REVERTED_LOG = "reverted.log"
DEFER_SECONDS = 0.5
DEFERRED_MARK = "swarmscope-deferred"
# Seconds a stopped process gets after SIGTERM before SIGKILL.
STOP_GRACE_TICKS = 50  # x 0.1 s


def revert_script(plan: FaultPlan, fault_id: str, kind: str, node: str, state_dir: str) -> str:
    """The content of ID.revert; runs with ``sh ID.revert WHO``."""
    return shell.lines(
        "#!/bin/sh",
        f"# swarmscope fault {fault_id}: {kind} on {node}. Undoes it; safe to run twice.",
        f"SD={q(state_dir)}; ID={q(fault_id)}; WHO=${{1:-hand}}",
        # Never signal our own process group (a deferred apply that failed runs this).
        "MYPG=$(cut -d' ' -f5 /proc/$$/stat)",
        'exec 9>>"$SD/$ID.lock"',
        "command -v flock >/dev/null 2>&1 && flock -w 120 9",
        '[ -e "$SD/$ID.revert" ] || exit 0',
        'if [ "$WHO" != timer ] && [ -s "$SD/$ID.timer" ]; then',
        '  T=$(cat "$SD/$ID.timer")',
        "  if tr '\\0' ' ' < \"/proc/$T/cmdline\" 2>/dev/null | grep -qF \"$ID.revert\"; then",
        '    kill -TERM -"$T" 2>/dev/null',
        "  fi",
        "fi",
        'rm -f "$SD/$ID.timer"',
        plan.undo.rstrip("\n"),
        # A process group counts as gone once only zombies are left in it: the init that
        # inherits them may reap them seconds later.
        "group_alive() {",
        "  for S in /proc/[0-9]*/stat; do",
        '    { read -r L < "$S"; } 2>/dev/null || continue',
        "    R=${L##*\\) }; set -- $R",
        '    [ "$1" != Z ] && [ "$3" = "$G" ] && return 0',
        "  done; return 1",
        "}",
        'if [ -f "$SD/$ID.pids" ]; then',
        "  while read -r P PAT; do",
        '    [ "$P" = "$MYPG" ] && continue',
        "    if tr '\\0' ' ' < \"/proc/$P/cmdline\" 2>/dev/null | grep -qF \"$PAT\"; then",
        '      kill -TERM -"$P" 2>/dev/null || kill -TERM "$P" 2>/dev/null',
        "    fi",
        '  done < "$SD/$ID.pids"',
        f"  i=0; while [ $i -lt {STOP_GRACE_TICKS} ]; do",
        "    ALIVE=0",
        "    while read -r G PAT; do",
        '      [ "$G" != "$MYPG" ] && group_alive && ALIVE=1',
        '    done < "$SD/$ID.pids"',
        '    [ "$ALIVE" = 0 ] && break',
        "    i=$((i+1)); sleep 0.1",
        "  done",
        "  while read -r G PAT; do",
        '    [ "$G" != "$MYPG" ] && group_alive && kill -KILL -"$G" 2>/dev/null',
        '  done < "$SD/$ID.pids"',
        "fi",
        f'echo "$ID $(date +%s.%N) $WHO" >> "$SD/{REVERTED_LOG}"',
        'rm -f "$SD/$ID".*',
        "exit 0",
    )


def apply_script(plan: FaultPlan, record: FaultRecord, state_dir: str) -> str:
    """Write the revert script and the record, arm the timer, then apply (``sh -e``); if the
    apply fails, undo at once and exit with its status. Prints the applied-at time."""
    if not plan.arm_timer:
        # Nothing on the target could run a revert (a real poweroff); nothing to remember.
        return shell.lines("set -e", plan.apply.rstrip("\n"), f"echo {APPLIED_MARK} $(date +%s.%N)")
    fault_id = record.id
    base = f"{state_dir}/{fault_id}"
    record_text = json.dumps(record.to_json(), sort_keys=True)
    return shell.lines(
        "set -u",
        f"SD={q(state_dir)}; ID={q(fault_id)}",
        "umask 022",
        'mkdir -p "$SD"',
        'if [ -e "$SD/$ID.record" ]; then echo "fault $ID is already active here" >&2; exit 1; fi',
        "command -v setsid >/dev/null 2>&1 || "
        "{ echo 'setsid is missing on this node (util-linux)' >&2; exit 1; }",
        shell.heredoc(
            q(f"{base}.revert"), revert_script(plan, fault_id, record.kind, record.node, state_dir)
        ),
        shell.heredoc(q(f"{base}.apply"), plan.apply),
        shell.heredoc(q(f"{base}.record"), record_text),
        # The timer first: from here on the fault is undone after its duration, whatever
        # happens to this connection or to the controller.
        f'setsid sh -c \'sleep {record.duration:.3f}; exec sh "$0" timer\' "$SD/$ID.revert" '
        "> /dev/null 2>&1 < /dev/null &",
        'echo $! > "$SD/$ID.timer"',
        *(_deferred_apply() if plan.deferred else _apply_now()),
    )


def _finish_apply(on_failure: str) -> list[str]:
    """After ``sh -e ID.apply > ID.out``: undo on failure, else note when it took effect
    (the first applied-at mark the apply printed, else now) and what does it."""
    return [
        f'if [ "$RC" -ne 0 ]; then sh "$SD/$ID.revert" failed > /dev/null 2>&1; {on_failure}; fi',
        f'A=$(sed -n "s/^{APPLIED_MARK} //p" "$SD/$ID.out" | head -n1)',
        '[ -n "$A" ] || A=$(date +%s.%N)',
        'echo "$A" > "$SD/$ID.applied"',
        f'sed -n "s/^{MECHANISM_MARK} //p" "$SD/$ID.out" > "$SD/$ID.mechanism"',
        'rm -f "$SD/$ID.apply" "$SD/$ID.out" "$SD/$ID.deferred"',
    ]


def _apply_now() -> list[str]:
    return [
        "RC=0",
        'sh -e "$SD/$ID.apply" > "$SD/$ID.out" || RC=$?',
        f'grep -v "^{APPLIED_MARK} " "$SD/$ID.out" || true',
        *_finish_apply('exit "$RC"'),
        f'echo "{APPLIED_MARK} $(cat "$SD/$ID.applied")"',
    ]


def _deferred_apply() -> list[str]:
    """Apply half a second after this script ends, detached: the fault cuts the connection
    this script came over. The controller reads ID.applied later (the lab's console)."""
    runner = shell.lines(
        f"SD=$1; ID=$2; sleep {DEFER_SECONDS}",
        # Reverted meanwhile: nothing to apply any more.
        '[ -e "$SD/$ID.record" ] || exit 0',
        "RC=0",
        'sh -e "$SD/$ID.apply" > "$SD/$ID.out" 2>&1 || RC=$?',
        *_finish_apply("exit 0"),
    )
    return [
        shell.heredoc('"$SD/$ID.deferred"', runner),
        'setsid sh "$SD/$ID.deferred" "$SD" "$ID" > /dev/null 2>&1 < /dev/null &',
        'echo "$! $ID.deferred" >> "$SD/$ID.pids"',
        f"echo {DEFERRED_MARK}",
    ]


@dataclass(frozen=True)
class ApplyOutcome:
    applied_at: float | None
    mechanism: str | None
    deferred: bool = False


def parse_apply_output(text: str) -> ApplyOutcome:
    """The first applied-at time and the mechanism the target reported."""
    applied_at = None
    mechanism = None
    deferred = False
    for line in text.splitlines():
        mark, _, rest = line.strip().partition(" ")
        if mark == APPLIED_MARK and applied_at is None:
            try:
                applied_at = float(rest)
            except ValueError:
                continue
        elif mark == MECHANISM_MARK and mechanism is None:
            mechanism = rest.strip().strip("'") or None
        elif mark == DEFERRED_MARK:
            deferred = True
    return ApplyOutcome(applied_at, mechanism, deferred)


def applied_script(state_dir: str, fault_id: str) -> str:
    """``applied TIME`` once a (deferred) fault took effect; ``gone`` if it was reverted."""
    return shell.lines(
        f"SD={q(state_dir)}; ID={q(fault_id)}",
        'if [ -s "$SD/$ID.applied" ]; then echo "applied $(cat "$SD/$ID.applied")"',
        'elif [ ! -e "$SD/$ID.record" ]; then echo gone; fi',
    )


def list_script(state_dir: str) -> str:
    """Print ``fault<TAB>ID<TAB>yes|no<TAB>APPLIED<TAB>MECHANISM<TAB>RECORD`` per active fault
    (yes: its timer is alive), then ``now<TAB>TIME`` (the target's clock)."""
    return shell.lines(
        f"SD={q(state_dir)}",
        'if [ -d "$SD" ]; then for F in "$SD"/*.record; do',
        '  [ -e "$F" ] || continue',
        '  ID=$(basename "$F" .record)',
        '  T=$(cat "$SD/$ID.timer" 2>/dev/null || true); A=no',
        "  if [ -n \"$T\" ] && tr '\\0' ' ' < \"/proc/$T/cmdline\" 2>/dev/null "
        '| grep -qF "$ID.revert"; then A=yes; fi',
        '  P=$(cat "$SD/$ID.applied" 2>/dev/null || true)',
        '  M=$(head -n1 "$SD/$ID.mechanism" 2>/dev/null || true)',
        '  printf \'fault\\t%s\\t%s\\t%s\\t%s\\t\' "$ID" "$A" "$P" "$M"',
        "  tr -d '\\n' < \"$F\"; echo",
        "done; fi",
        "printf 'now\\t%s\\n' \"$(date +%s.%N)\"",
    )


@dataclass(frozen=True)
class Listed:
    record: FaultRecord
    timer_alive: bool


def parse_list_output(text: str, node: str) -> tuple[list[Listed], list[str]]:
    """Active faults and the problems found (an unreadable record is reported, not hidden)."""
    listed: list[Listed] = []
    problems: list[str] = []
    for line in text.splitlines():
        fields = line.split("\t", 5)
        if fields[0] != "fault" or len(fields) < 6:
            continue
        fault_id, alive, applied, mechanism, raw = fields[1:]
        try:
            record = FaultRecord.from_json(json.loads(raw))
            applied_at = float(applied) if applied else None
        except (ValueError, TypeError) as exc:
            problems.append(f"node {node}: fault {fault_id}: unreadable record ({exc})")
            continue
        record = record.with_(
            timer_alive=alive == "yes",
            applied_at=applied_at or record.applied_at,
            mechanism=mechanism or record.mechanism,
        )
        listed.append(Listed(record, alive == "yes"))
    return listed, problems


def _errors_of(variable: str = "$ID") -> str:
    """Print ``error ID MESSAGE`` for every undo step of the fault that failed."""
    return f'grep -F "{variable} " "$SD/{ERRORS_LOG}" 2>/dev/null | sed "s/^/error /"'


def revert_one_script(state_dir: str, fault_id: str) -> str:
    """Run the fault's revert if it is still active; print ``reverted ID`` or ``inactive ID``,
    its revert-log line and any undo step that failed."""
    return shell.lines(
        f"SD={q(state_dir)}; ID={q(fault_id)}",
        'if [ -f "$SD/$ID.revert" ]; then sh "$SD/$ID.revert" hand; echo "reverted $ID";',
        'else echo "inactive $ID"; fi',
        f'grep -F "$ID " "$SD/{REVERTED_LOG}" 2>/dev/null | tail -n1 | sed "s/^/log /"',
        _errors_of(),
    )


def revert_all_script(state_dir: str) -> str:
    return shell.lines(
        f"SD={q(state_dir)}",
        'if [ -d "$SD" ]; then for F in "$SD"/*.revert; do',
        '  [ -e "$F" ] || continue',
        '  ID=$(basename "$F" .revert)',
        '  sh "$F" hand; echo "reverted $ID"',
        f"  {_errors_of()}",
        "done; fi",
    )


def reverted_script(state_dir: str, fault_id: str) -> str:
    """``active`` while the fault is on, else its revert-log line ``log ID TIME WHO``."""
    return shell.lines(
        f"SD={q(state_dir)}; ID={q(fault_id)}",
        'if [ -e "$SD/$ID.record" ]; then echo active; exit 0; fi',
        f'grep -F "$ID " "$SD/{REVERTED_LOG}" 2>/dev/null | tail -n1 | sed "s/^/log /"',
        _errors_of(),
    )


@dataclass(frozen=True)
class RevertLogEntry:
    fault_id: str
    at: float
    by: str


def parse_errors(text: str) -> dict[str, list[str]]:
    """``error ID MESSAGE`` lines by fault id."""
    errors: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[0] == "error":
            errors.setdefault(fields[1], []).append(fields[2].strip())
    return errors


def parse_revert_log(text: str) -> RevertLogEntry | None:
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] == "log":
            try:
                return RevertLogEntry(fields[1], float(fields[2]), fields[3])
            except ValueError:
                return None
    return None
