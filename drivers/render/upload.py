"""Upload the generated dashboards to a running Grafana with grafana-client.

For users who already run Grafana and do not use the compose stack. Credentials come from
the environment (``GRAFANA_TOKEN``, or ``GRAFANA_USER`` and ``GRAFANA_PASSWORD``), never
from the command line, where other users of the machine could read them in ``ps``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from drivers.errors import ConfigError, SwarmscopeError

TOKEN_ENV = "GRAFANA_TOKEN"  # noqa: S105 - the name of a variable, not a secret
USER_ENV = "GRAFANA_USER"
PASSWORD_ENV = "GRAFANA_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
_NOT_FOUND = 404


class GrafanaError(SwarmscopeError):
    """Grafana did not answer or refused a request."""


@dataclass(frozen=True)
class Uploaded:
    title: str
    uid: str
    url: str  # where Grafana serves it, relative to its root


def credential_from_env(
    environ: Mapping[str, str] = os.environ, user: str | None = None
) -> str | tuple[str, str]:
    """A service account token, or basic-auth user and password."""
    token = environ.get(TOKEN_ENV)
    user = user or environ.get(USER_ENV)
    password = environ.get(PASSWORD_ENV)
    if token and (user or password):
        raise ConfigError(f"set either {TOKEN_ENV} or {USER_ENV}/{PASSWORD_ENV}, not both")
    if token:
        return token
    if user and password:
        return (user, password)
    if user:
        raise ConfigError(f"Grafana user {user!r} given but {PASSWORD_ENV} is not set")
    raise ConfigError(
        f"no Grafana credentials: set {TOKEN_ENV} (a service account token) or "
        f"{USER_ENV} and {PASSWORD_ENV} in the environment"
    )


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise ConfigError(f"{directory}: no dashboard JSON files (run `swarmscope render`)")
    dashboards = []
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable dashboard: {exc}") from None
        if not isinstance(document, dict) or not document.get("uid"):
            raise ConfigError(f"{path}: a dashboard needs a uid")
        dashboards.append(document)
    return dashboards


def push(
    url: str,
    credential: str | tuple[str, str],
    dashboards: list[dict[str, Any]],
    *,
    folder_uid: str,
    folder_title: str,
    timeout: float = 10.0,
) -> list[Uploaded]:
    """Create the folder if needed, then create or overwrite every dashboard in it."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"--url: {url!r} is not an http(s) URL")
    if parsed.username or parsed.password:
        raise ConfigError(
            f"--url: put credentials in {TOKEN_ENV} or {USER_ENV}/{PASSWORD_ENV}, not the URL"
        )
    api = GrafanaApi.from_url(url.rstrip("/"), credential=credential, timeout=timeout)
    try:
        _ensure_folder(api, folder_uid, folder_title)
        uploaded = []
        for dashboard in dashboards:
            answer = api.dashboard.update_dashboard(
                {
                    # id None: Grafana matches by uid, so pushing again updates in place.
                    "dashboard": {**dashboard, "id": None},
                    "folderUid": folder_uid,
                    "overwrite": True,
                    "message": "swarmscope grafana push",
                }
            )
            uploaded.append(
                Uploaded(str(dashboard.get("title", "")), str(dashboard["uid"]), _url_of(answer))
            )
    except GrafanaUnauthorizedError:
        raise GrafanaError(
            f"Grafana at {url} refused the credentials (HTTP 401): check {TOKEN_ENV} or "
            f"{USER_ENV}/{PASSWORD_ENV}"
        ) from None
    except GrafanaException as exc:
        raise GrafanaError(f"Grafana at {url}: {exc.message}") from None
    except niquests.exceptions.RequestException as exc:
        raise GrafanaError(f"Grafana at {url} does not answer: {type(exc).__name__}") from None
    return uploaded


def _ensure_folder(api: GrafanaApi, uid: str, title: str) -> None:
    try:
        api.folder.get_folder(uid)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code != _NOT_FOUND:
            raise
        api.folder.create_folder(title, uid=uid)  # type: ignore[no-untyped-call]


def _url_of(answer: Any) -> str:
    return str(answer.get("url", "")) if isinstance(answer, dict) else ""
