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



# The suite runs in parallel (pytest-xdist, `-n 4` in pyproject.toml). Tests that share an
# expensive session object run in one worker, so that it is built once per group: GROUPS, by node
# id prefix, first match wins. "inventory": the main job's landed instance (tests/meltano/shared.py)
# and what reads it; "meltano": the other tests of a Meltano project; "quickstart": the fresh
# clone with its own Meltano. Each worker builds its own Meltano project (about 6 s with uv), so
# the two Meltano groups run side by side instead of one after the other (together they were the
# suite's longest worker). xdist's own `--dist loadgroup` does not group under pytest 9 (it renames
# items' node ids, which pytest 9 no longer reads back), so the scheduler is ours: xdist's
# load-by-scope, with a group as the scope of its tests and every other test a scope of its own.
# Scopes are handed out most tests first (xdist's default), so the groups start at once.
GROUPS = {"inventory": ("tests/meltano/test_meltano_project.py::test_main_job_", "tests/transform/test_models.py",
                        "tests/warehouse/", "tests/notebook/"),
          "meltano": ("tests/meltano/", "tests/transform/"),
          "quickstart": ("tests/quickstart/",)}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:  # xdist's hook for what goes together
            return next((group for group, prefixes in GROUPS.items() if nodeid.startswith(prefixes)), nodeid)

    return GroupScheduling(config, log)


# The session's Meltano project (every plugin meltano.yml defines, installed once) and the main
# job's run against a shared instance (tests/meltano/shared.py), for tests/meltano,
# tests/transform, tests/warehouse and tests/notebook.
@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory):
    from tests.meltano import shared

    return shared.meltano_project(tmp_path_factory)


@pytest.fixture(scope="session")
def inventory(tmp_path_factory):
    from tests.meltano import shared

    return shared.inventory(tmp_path_factory)
