"""Shared fixtures of the exporter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.exporters.privatedocker import PrivateDocker, private_dockerd


@pytest.fixture(scope="session")
def dockerd() -> Iterator[PrivateDocker]:
    """One private dockerd (own network namespace, data, socket) for the whole session."""
    with private_dockerd() as docker:
        yield docker
