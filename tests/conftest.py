"""Fixtures shared by every test directory."""

from __future__ import annotations

import pytest

from dataops_simulator import Simulator


@pytest.fixture
def simulator():
    """Start simulators on loopback for one test; every one started is stopped after it."""
    started: list[Simulator] = []

    def start(**options) -> Simulator:
        # The tap tests' recognisable token (tests/tap/helpers.py) and the simulator's default.
        options.setdefault("tokens", ("sim-token", "glpat-Sim-T0ken-4242"))
        sim = Simulator(**options).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
