"""The main job's run, shared with tests/meltano (tests/meltano/shared.py): one landed tenant,
one `dbt build` on DuckDB."""

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
