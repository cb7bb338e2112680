"""A temporary copy of the project with Meltano and the main job's plugins installed (once per session)."""

from __future__ import annotations

import pytest

from tests.meltano.harness import MeltanoProject


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory) -> MeltanoProject:
    project = MeltanoProject.create(tmp_path_factory.mktemp("meltano"))
    project.install("tap-dataops", "target-duckdb")
    return project
