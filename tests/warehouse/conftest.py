"""A real PostgreSQL server (Debian's postgresql package) on 127.0.0.1 for the session, used
with the session's Meltano project (tests/conftest.py: MeltanoLabs' target-postgres and
dbt-postgres installed with the rest) and the main job's DuckDB run to compare with.

The server runs from a data directory under a fresh temporary directory, as the `postgres`
system user when the tests run as root (PostgreSQL refuses to run as root), with trust
authentication on loopback only, and is stopped afterwards. Missing server binaries fail
the tests (CI must install them), they do not skip.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest


@dataclasses.dataclass
class Postgres:
    bindir: Path
    host: str
    port: int
    user: str = "postgres"

    def psql(self, database: str, sql: str) -> list[list[str]]:
        """Rows of ``sql`` as lists of text fields (psql's unaligned output)."""
        out = subprocess.run(
            [str(self.bindir / "psql"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database,
             "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        assert out.returncode == 0, out.stderr
        return [line.split("\t") for line in out.stdout.splitlines() if line]


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql",
                    pytrace=False)
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[Postgres]:
    bindir = _bindir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # Not under pytest's tmp dir: that one is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="tap-dataops-pg-"))
    if as_postgres:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"

    def run(*cmd: str) -> None:
        proc = subprocess.run([*as_postgres, *cmd], cwd=base, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}"

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
    server = Postgres(bindir, "127.0.0.1", _free_port())
    # -k: the Unix socket goes in our own directory, -F: no fsync (a throwaway cluster).
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60",
        "-o", f"-h {server.host} -p {server.port} -k {base} -F", "start")
    try:
        yield server
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       cwd=base, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
