"""What the slow tests share, built once per session whichever directory asks first.

- ``meltano_project``: one copy of the project with its own Meltano and every plugin meltano.yml
  defines installed (the tap, both loaders, both dbt transformers).
- ``instance_simulator``: one shared DataOps.live instance (``Simulator.instance``), seen by the
  main job through the token user's token ("sim-token").
- ``inventory``: the main job run once against it, ``meltano run --full-refresh inventory`` (tap,
  bundled DuckDB loader, ``dbt build``), with "now" pinned (DBT_AS_OF) so that another warehouse
  built from the same tenant answers exactly the same.

tests/conftest.py makes them the session fixtures ``meltano_project`` and ``inventory`` of
tests/meltano, tests/transform, tests/warehouse and tests/notebook; the memo keeps
``inventory`` on the project the other fixture built.
"""

from __future__ import annotations

import atexit
import dataclasses
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from dataops_simulator import Simulator
from tests.meltano.harness import PLUGINS, MeltanoProject, clean_env

# The customer's projects in the shared instance (the other customers' and the vendor's come on top).
INSTANCE_PROJECTS = 100
INSTANCE_SEED = 1
TOKEN_KIND = "user"  # "sim-token", the token meltano.yml's simulator environment sends

_built: dict[str, object] = {}


def meltano_project(tmp_path_factory) -> MeltanoProject:
    if "meltano" not in _built:
        project = MeltanoProject.create(tmp_path_factory.mktemp("meltano"))
        project.install(*PLUGINS)
        _built["meltano"] = project
    return _built["meltano"]  # type: ignore[return-value]


def instance_simulator() -> Simulator:
    if "instance" not in _built:
        sim = Simulator.instance(projects=INSTANCE_PROJECTS, seed=INSTANCE_SEED, rate_limit=None).start()
        atexit.register(sim.stop)
        _built["instance"] = sim
    return _built["instance"]  # type: ignore[return-value]


@dataclasses.dataclass
class Inventory:
    """The main job's result: the DuckDB file (raw tables in main, models in analytics)."""

    project: MeltanoProject
    sim: Simulator
    database: Path
    as_of: str  # the pinned "now" of the models, UTC, 'YYYY-MM-DD HH:MM:SS'
    run: subprocess.CompletedProcess
    seconds: float
    requests: int  # requests the tap made

    def env(self, **extra: str) -> dict[str, str]:
        """The environment the job ran with (against this simulator, into this file)."""
        return clean_env(TAP_DATAOPS_API_URL=self.sim.url, TARGET_DUCKDB_DATABASE=str(self.database),
                         DBT_DUCKDB_PATH=str(self.database), DBT_AS_OF=self.as_of, **extra)

    def truth(self, stream: str) -> list[dict]:
        return self.sim.truth(stream, token=TOKEN_KIND)


def inventory(tmp_path_factory) -> Inventory:
    if "inventory" not in _built:
        project = meltano_project(tmp_path_factory)
        sim = instance_simulator()
        as_of = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        database = tmp_path_factory.mktemp("inventory") / "inventory.duckdb"
        result = Inventory(project, sim, database, as_of, None, 0.0, 0)  # type: ignore[arg-type]
        sim.clear_requests()
        started = time.monotonic()
        result.run = project.run("run", "--full-refresh", "inventory", env=result.env(), timeout=600)
        result.seconds = time.monotonic() - started
        result.requests = len(sim.requests)
        project.timings["meltano run --full-refresh inventory"] = result.seconds
        _built["inventory"] = result
    return _built["inventory"]  # type: ignore[return-value]
