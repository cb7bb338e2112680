"""Real Meltano for tests: a copy of the project in a temporary directory, Meltano in its
own venv there (as scripts/quickstart.py makes it), and helpers to run it and read results.

Nothing here touches the developer's checkout: no .meltano/, .env or databases of theirs
are read or written.

The expensive things are built once per session, whichever test directory asks first
(tests/meltano, tests/transform, tests/warehouse, tests/notebook): see ``shared.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.pipeline.harness import KEYS, STREAMS, expected

REPO = Path(__file__).resolve().parents[2]
# STREAMS: the streams the main job lands (the tap's default selection, which meltano.yml
# keeps); KEYS: every stream's key. One definition, in tests/pipeline/harness.py.
__all__ = ["KEYS", "STREAMS"]

# Every plugin meltano.yml defines; the shared project installs them all, once.
PLUGINS = ("tap-dataops", "target-duckdb", "target-postgres", "dbt-duckdb", "dbt-postgres")
# Not needed to run the project (and large).
_NOT_COPIED = ("benchmarks/",)


def meltano_spec() -> str:
    """The Meltano requirement scripts/quickstart.py installs (one place to change it)."""
    source = (REPO / "scripts" / "quickstart.py").read_text()
    line = next(line for line in source.splitlines() if line.startswith("MELTANO_SPEC = "))
    return line.split("=", 1)[1].strip().strip("\"'")


def copy_project(dest: Path) -> Path:
    """The repository's files as a fresh clone has them (plus uncommitted edits), at ``dest``:
    what git tracks or would add (``.gitignore`` leaves out state, secrets, caches and builds)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in listed:
        source = REPO / name
        if not name or name.startswith(_NOT_COPIED) or not source.is_file():
            continue  # a tracked file deleted in the working tree, or one left out
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would steer the tap, the targets, dbt,
    Meltano or pip's target venv; plus ``extra``."""
    steering = ("TAP_DATAOPS_", "TARGET_", "MELTANO_", "DATAOPS_", "DBT_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(steering) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def make_meltano_venv(path: Path) -> Path:
    """A venv at ``path`` with Meltano; returns the meltano executable. Made with uv (a test
    dependency; Meltano itself installs the plugins with uv): the same venv the quickstart makes
    with pip, in about 2 s instead of 17. The quickstart keeps pip, which is all a user needs."""
    from uv import find_uv_bin

    uv, env = find_uv_bin(), clean_env()
    subprocess.run([uv, "venv", "--quiet", str(path)], check=True, capture_output=True, timeout=120, env=env)
    subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(path / "bin" / "python"),
                    meltano_spec()],
                   check=True, capture_output=True, timeout=600, env=env)
    return path / "bin" / "meltano"


class MeltanoProject:
    """A temporary copy of the project with its own Meltano."""

    def __init__(self, root: Path, meltano: Path) -> None:
        self.root = root
        self.meltano = meltano
        self.timings: dict[str, float] = {}

    @classmethod
    def create(cls, tmp: Path) -> MeltanoProject:
        root = copy_project(tmp / "project")
        started = time.monotonic()
        meltano = make_meltano_venv(root / ".venv-meltano")
        project = cls(root, meltano)
        project.timings["meltano venv"] = time.monotonic() - started
        return project

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.meltano), *args], cwd=self.root, env=env or clean_env(),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"meltano {' '.join(args)} exited {proc.returncode}:\n{_tail(proc)}")
        return proc

    def install(self, *plugins: str) -> None:
        started = time.monotonic()
        self.run("install", *plugins, timeout=600)
        self.timings[f"meltano install {' '.join(plugins)}"] = time.monotonic() - started
        print(f"timings: {self.timings}", file=sys.stderr)


def _tail(proc: subprocess.CompletedProcess, lines: int = 40) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


def duckdb_rows(database: Path, query: str) -> list[tuple]:
    """Rows of ``query`` on a DuckDB file, opened read-only (and closed again)."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(query).fetchall()


def record_keys(records: list[dict], stream: str) -> set[tuple]:
    return {tuple(r[k] for k in KEYS.get(stream, ("id",))) for r in records}


def truth_keys(sim, stream: str, token: str | None = None) -> set[tuple]:
    """The records of ``stream`` a full sync with ``token`` must land, by primary key (the
    pipeline tests' definition: tests/pipeline/harness.py ``expected``)."""
    return record_keys(expected(sim, stream, token), stream)



def about(executable: Path) -> dict:
    out = subprocess.run([str(executable), "--about", "--format", "json"], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)
