"""The session's Meltano project (every plugin installed) and the main job's run (shared.py)."""

from __future__ import annotations

import pytest

from tests.meltano import shared
from tests.meltano.harness import MeltanoProject


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory) -> MeltanoProject:
    return shared.meltano_project(tmp_path_factory)


@pytest.fixture(scope="session")
def inventory(tmp_path_factory) -> shared.Inventory:
    return shared.inventory(tmp_path_factory)
