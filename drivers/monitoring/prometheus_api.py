"""A small client for Prometheus' HTTP query API, with errors that name the URL and the query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from drivers.errors import SwarmscopeError


class PrometheusError(SwarmscopeError):
    """Prometheus did not answer, or refused a query."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (timestamp, value)


class PrometheusAPI:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = self._session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} does not answer: {type(exc).__name__}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"Prometheus at {self.url}{path}: HTTP {response.status_code}, not JSON"
            ) from None
        if body.get("status") != "success":
            query = params.get("query", "")
            raise PrometheusError(
                f"Prometheus refused {query!r}: {body.get('errorType', '?')}: "
                f"{body.get('error', 'no reason given')}"
            )
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """An instant query; scalar results come back as one sample without labels."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise PrometheusError(f"{promql!r}: expected a vector, got {data['resultType']}")
        return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range",
            {
                "query": promql,
                "start": f"{start:.3f}",
                "end": f"{end:.3f}",
                "step": f"{step:g}",
            },
        )
        return [
            Series(item["metric"], [(float(t), float(v)) for t, v in item["values"]])
            for item in data["result"]
        ]

    def targets(self) -> list[dict[str, Any]]:
        data = self._get("/api/v1/targets", {"state": "active"})
        active: list[dict[str, Any]] = data["activeTargets"]
        return active

    def alerts(self) -> list[dict[str, Any]]:
        data = self._get("/api/v1/alerts", {})
        alerts: list[dict[str, Any]] = data["alerts"]
        return alerts

    def close(self) -> None:
        self._session.close()
