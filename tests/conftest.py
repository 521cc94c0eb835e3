"""Fixtures shared by the test modules that talk to AWS: one real moto server per test session
(per xdist worker), reached over HTTP on a free loopback port; each module's ``aws`` fixture resets
its state and sets the environment that module needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto_server import MotoServer


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """The moto server; tests reach it through their module's ``aws`` fixture, which resets it."""
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()
