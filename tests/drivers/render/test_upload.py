"""`swarmscope grafana push` against a local server speaking the Grafana HTTP API.

Grafana cannot run here; this server implements the endpoints grafana-client calls (folder
lookup and creation, dashboard import) and records every request, so the tests see the
exact method, path, auth header and JSON that a real Grafana would receive.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from drivers.cli import main
from drivers.thresholds import REPO_ROOT
from tests.support.daemons import free_port

DASHBOARDS = sorted((REPO_ROOT / "grafana/dashboards").glob("*.json"))


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafana:
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    accept: set[str] = field(default_factory=set)  # accepted Authorization header values
    url: str = ""


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization")
            state.requests.append(Recorded(self.command, self.path, auth, body))
            if auth not in state.accept:
                self._answer(401, {"message": "Unauthorized"})
            elif self.command == "GET" and self.path.startswith("/api/folders/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in state.folders:
                    self._answer(200, state.folders[uid])
                else:
                    self._answer(404, {"message": "folder not found"})
            elif self.command == "POST" and self.path == "/api/folders":
                state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"]}
                self._answer(200, state.folders[body["uid"]])
            elif self.command == "POST" and self.path == "/api/dashboards/db":
                uid = body["dashboard"]["uid"]
                self._answer(200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x"})
            else:
                self._answer(404, {"message": "not found"})

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_grafana_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_push_with_a_token_creates_the_folder_and_every_dashboard(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bearer token from GRAFANA_TOKEN; folder created when missing; each dashboard POSTed as
    its file says, into that folder, overwriting by uid."""
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_test")
    grafana.accept = {"Bearer glsa_test"}
    assert main(["grafana", "push", "--url", grafana.url]) == 0
    calls = [(r.method, r.path) for r in grafana.requests]
    assert calls[:2] == [("GET", "/api/folders/swarmscope"), ("POST", "/api/folders")]
    assert calls[2:] == [("POST", "/api/dashboards/db")] * len(DASHBOARDS)
    assert {r.authorization for r in grafana.requests} == {"Bearer glsa_test"}
    assert grafana.requests[1].body == {"title": "swarmscope", "uid": "swarmscope"}
    for path, request in zip(DASHBOARDS, grafana.requests[2:], strict=True):
        expected = json.loads(path.read_text())
        assert request.body["dashboard"] == {**expected, "id": None}
        assert request.body["folderUid"] == "swarmscope"
        assert request.body["overwrite"] is True
    out = capsys.readouterr().out
    assert f"{grafana.url}/d/swarmscope-mesh/x" in out
    assert "glsa_test" not in out


def test_push_with_user_and_password_into_an_existing_folder(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Basic auth from GRAFANA_USER/GRAFANA_PASSWORD; an existing folder is not created again."""
    monkeypatch.setenv("GRAFANA_USER", "admin")
    monkeypatch.setenv("GRAFANA_PASSWORD", "s3cret")
    basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    grafana.accept = {basic}
    grafana.folders["lab"] = {"uid": "lab", "title": "Lab"}
    argv = ["grafana", "push", "--url", grafana.url, "--folder", "Lab", "--folder-uid", "lab"]
    assert main(argv) == 0
    assert ("POST", "/api/folders") not in [(r.method, r.path) for r in grafana.requests]
    assert {r.authorization for r in grafana.requests} == {basic}
    assert {r.body["folderUid"] for r in grafana.requests if r.body} == {"lab"}


def test_refused_credentials_are_one_line(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 is an error naming the URL and the variables to fix; the token is not printed."""
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    grafana.accept = {"Bearer right"}
    assert main(["grafana", "push", "--url", grafana.url]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"swarmscope: error: Grafana at {grafana.url} refused the credentials (HTTP 401): "
        "check GRAFANA_TOKEN or GRAFANA_USER/GRAFANA_PASSWORD\n"
    )


@pytest.mark.parametrize(
    ("env", "url", "message"),
    [
        ({}, "http://127.0.0.1:1", "no Grafana credentials: set GRAFANA_TOKEN"),
        ({"GRAFANA_USER": "admin"}, "http://127.0.0.1:1", "GRAFANA_PASSWORD is not set"),
        ({"GRAFANA_TOKEN": "t"}, "http://a:b@127.0.0.1:1", "not the URL"),
        ({"GRAFANA_TOKEN": "t"}, "grafana:3000", "is not an http(s) URL"),
    ],
)
def test_bad_input_exits_2(
    env: dict[str, str],
    url: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Missing credentials, credentials in the URL or a malformed URL: exit 2, one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["grafana", "push", "--url", url]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_unreachable_grafana(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening: exit 1 with the URL, no traceback."""
    monkeypatch.setenv("GRAFANA_TOKEN", "t")
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["grafana", "push", "--url", url, "--timeout", "2"]) == 1
    assert capsys.readouterr().err.startswith(
        f"swarmscope: error: Grafana at {url} does not answer"
    )


def test_empty_dashboard_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory without dashboards is bad input, found before any request."""
    monkeypatch.setenv("GRAFANA_TOKEN", "t")
    argv = ["grafana", "push", "--url", "http://127.0.0.1:1", "--dashboards", str(tmp_path)]
    assert main(argv) == 2
    assert "no dashboard JSON files" in capsys.readouterr().err
