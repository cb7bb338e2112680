"""The main job's run, shared with tests/meltano, tests/transform and tests/warehouse
(tests/meltano/shared.py): one landed tenant, one `dbt build` on DuckDB, whose database the
notebook reads."""

from __future__ import annotations

import pytest

from tests.meltano import shared


@pytest.fixture(scope="session")
def inventory(tmp_path_factory) -> shared.Inventory:
    return shared.inventory(tmp_path_factory)
