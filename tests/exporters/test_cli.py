"""The real `swarmlet-exporter` process: served over HTTP, TLS and basic auth, bad input."""

from __future__ import annotations

import base64
import http.client
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.exporters.recorded import FIXTURES
from tests.support.daemons import free_port, require_binary, running

EXPORTER = str(Path(sys.executable).parent / "swarmlet-exporter")
STAND_IN = FIXTURES / "bin" / "vcgencmd"


def pi5_args(tmp_path: Path) -> list[str]:
    """The Pi 5 trees for thermal and vcgencmd; a Docker socket that does not exist."""
    return [
        "--sysfs", str(FIXTURES / "pi5" / "sys"),
        "--procfs", str(FIXTURES / "pi5" / "proc"),
        "--vcgencmd", str(STAND_IN),
        "--docker-host", f"unix://{tmp_path}/no-docker.sock",
        "--node", "rpi-5",
    ]  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def vcgencmd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWX_VCGENCMD_FIXTURES", str(FIXTURES / "pi5" / "vcgencmd"))


@pytest.mark.usefixtures("vcgencmd_env")
def test_the_real_process_serves_metrics_and_survives_a_missing_docker(tmp_path: Path) -> None:
    """Started as a user starts it, on a free loopback port: /metrics answers with the Pi 5's
    readings; Docker being absent fails only the agent and join collectors."""
    port = free_port()
    argv = [EXPORTER, "--listen", f"127.0.0.1:{port}", *pi5_args(tmp_path)]
    with running(argv, "127.0.0.1", port, tmp_path / "exporter.log"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        # Keep-alive: a second request on the same connection, as Prometheus does.
        connection.request("HEAD", "/metrics")
        head = connection.getresponse()
        assert head.status == 200
        assert head.read() == b""
        for method, path, status in (
            ("GET", "/", 200),
            ("GET", "/nope", 404),
            ("POST", "/metrics", 405),
        ):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request(method, path)
            assert connection.getresponse().status == status
    values = samples(body)
    success = "swarmlet_exporter_collector_success"
    assert values[(success, (("collector", "agent"),))] == 0
    assert values[(success, (("collector", "join"),))] == 0
    assert values[(success, (("collector", "thermal"),))] == 1
    assert values[(success, (("collector", "vcgencmd"),))] == 1
    assert (
        values[("swarmlet_node_temperature_celsius", (("sensor", "cpu-thermal"), ("zone", "0")))]
        == 52.7
    )
    assert values[("swarmlet_rpi_throttled", (("condition", "soft_temp_limit"),))] == 1
    assert values[("swarmlet_exporter_build_info", (("node", "rpi-5"), ("version", "0.1.0")))] == 1
    log = (tmp_path / "exporter.log").read_text()
    assert log.count("cannot reach Docker") == 2, "one line per collector, not one per scrape"
    assert "Traceback" not in log


def make_certificate(tmp_path: Path) -> tuple[Path, Path]:
    require_binary("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.usefixtures("vcgencmd_env")
def test_tls_and_basic_auth(tmp_path: Path) -> None:
    """With TLS and an auth file: no or wrong credentials -> 401 with a Basic challenge, the
    right ones -> 200; a plain-HTTP client cannot talk to it and does not break it."""
    cert, key = make_certificate(tmp_path)
    hashed = subprocess.run(
        [EXPORTER, "--hash-password"], input="s3cret\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert hashed.startswith("$pbkdf2-sha256$")
    auth_file = tmp_path / "users"
    auth_file.write_text(f"# who may scrape\nprometheus:{hashed}\n")
    port = free_port()
    argv = [
        EXPORTER, "--listen", f"127.0.0.1:{port}", *pi5_args(tmp_path),
        "--tls-cert", str(cert), "--tls-key", str(key), "--basic-auth-file", str(auth_file),
    ]  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    with running(argv, "127.0.0.1", port, tmp_path / "exporter.log"):

        def get(headers: dict[str, str]) -> http.client.HTTPResponse:
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
            connection.request("GET", "/metrics", headers=headers)
            return connection.getresponse()

        anonymous = get({})
        assert anonymous.status == 401
        assert anonymous.getheader("WWW-Authenticate") == 'Basic realm="swarmlet-exporter"'
        assert get(basic("prometheus", "wrong")).status == 401
        assert get(basic("someone", "s3cret")).status == 401
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        plain.request("GET", "/metrics")
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            plain.getresponse()
        good = get(basic("prometheus", "s3cret"))
        assert good.status == 200
        assert "swarmlet_rpi_throttled" in good.read().decode()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--listen", "9877"], "--listen '9877': expected ADDR:PORT"),
        (["--listen", "::1:9877"], "write IPv6 addresses in brackets"),
        (["--collectors", "agent,gpu"], "--collectors: unknown gpu"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.key"], "cannot load TLS certificate"),
        (["--basic-auth-file", "BADAUTH"], "BADAUTH:1: expected USER:HASH"),
        (["--basic-auth-file", "missing-users"], "missing-users: cannot read"),
        (["--join-patterns", "BADPATTERNS"], "unknown key 'finished'"),
        (["--sysfs", "/nonexistent"], "--sysfs /nonexistent: not a directory"),
        (["--vcgencmd", "/nonexistent/vcgencmd"], "--vcgencmd /nonexistent/vcgencmd: no such file"),
        (["--docker-host", "ssh://pi@rpi-1"], "expected unix:///path/to/docker.sock"),
        (["--agent-process", "swarmlet", "--agent-pidfile", "x.pid"], "not allowed with argument"),
        (["--agent-process", "swarmlet", "--collectors", "join"], "needs --agent-log FILE"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    """Every bad flag or file: exactly one line on stderr naming it, exit code 2, no traceback."""
    (tmp_path / "BADAUTH").write_text("prometheus-without-hash\n")
    (tmp_path / "BADPATTERNS").write_text('{"finished": "done"}')
    result = subprocess.run(
        [EXPORTER, "--listen", "127.0.0.1:0", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("swarmlet-exporter: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_exit_code_1(tmp_path: Path) -> None:
    """Binding fails (someone else has the port): one line, exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [EXPORTER, "--listen", f"127.0.0.1:{port}", "--no-collector.agent"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_sigterm_stops_it_cleanly(tmp_path: Path) -> None:
    """SIGTERM (docker stop, a service manager) ends the process with exit code 0."""
    port = free_port()
    with open(tmp_path / "log", "wb") as log:
        process = subprocess.Popen(
            [EXPORTER, "--listen", f"127.0.0.1:{port}", "--no-collector.agent"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while b"listening on" not in (tmp_path / "log").read_bytes():
            assert time.monotonic() < deadline
            assert process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopping" in (tmp_path / "log").read_text()
