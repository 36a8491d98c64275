"""prometheus/alertmanager.yml is valid and routes alerts by severity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.daemons import require_binary

CONFIG = Path(__file__).resolve().parents[2] / "prometheus" / "alertmanager.yml"


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_amtool_accepts_the_config() -> None:
    """`amtool check-config` passes: syntax, routes, receivers and the inhibit rule."""
    result = _amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 receivers" in result.stdout
    assert "1 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=SwarmletFailureDetectionTooHigh"], "critical"),
        (["severity=warning", "alertname=SwarmletJoinTotalTooHigh"], "warning"),
        (["alertname=Watchdog"], "default"),
    ],
)
def test_alerts_are_routed_by_severity(labels: list[str], receiver: str) -> None:
    """critical and warning alerts go to their own receivers; anything else to the default."""
    result = _amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver
