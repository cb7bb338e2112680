#!/usr/bin/env python3
"""The first command: install everything and run the main job end to end.

    python3 scripts/quickstart.py

Needs only Python 3.11+ with pip and venv. Safe to run again (each step reuses what is
already there). In order:

1. ``.venv-meltano/``: a virtual environment with Meltano (Meltano wants its own).
2. ``meltano install tap-dataops target-duckdb dbt-duckdb``: each plugin's venv under ``.meltano/``
   (and, for the demo, the ``dataops-simulator`` utility).
3. Without ``TAP_DATAOPS_PRIVATE_TOKEN`` (or ``TAP_DATAOPS_JOB_TOKEN``) in the environment
   or ``.env``: starts the bundled ``dataops-simulator`` on loopback as a shared DataOps.live
   instance seen through an ordinary user's token (``--instance``: what a real account looks
   like), and uses the ``simulator`` environment (stopped at the end). With a token: the
   ``dataops`` environment, i.e. the real account.
4. ``meltano run inventory`` (tap, loader, ``dbt build`` of the models in transform/), with
   progress (scripts/run_progress.py).
5. Prints each landed table and model with its row count, the database path, and a few answers
   (stale projects, owners, the least reliable pipelines). After a failed run: the failure, and
   what the database holds (the loader commits what it received before the failure).

The token is never printed. Exit status: 0 on success, else the failing step's.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from run_progress import RunProgress

ROOT = Path(__file__).resolve().parent.parent
MELTANO_VENV = ROOT / ".venv-meltano"
MELTANO_SPEC = "meltano>=4.4.1,<5"
PLUGINS = ("tap-dataops", "target-duckdb", "dbt-duckdb")
JOB = "inventory"  # meltano.yml: tap-dataops target-duckdb dbt-duckdb:build
SIMULATOR = "dataops-simulator"  # meltano.yml's utility: the bundled simulator, for the demo
TOKEN_VARS = ("TAP_DATAOPS_PRIVATE_TOKEN", "TAP_DATAOPS_JOB_TOKEN")
SIMULATOR_TOKEN = "sim-token"  # the simulator's token of an ordinary user (meltano.yml, environment simulator)


class StepFailed(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    print(message, flush=True)


def venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def run_quiet(cmd: list[str | Path], what: str, env: dict[str, str] | None = None) -> str:
    """Run a setup command; on failure show its output's tail and stop."""
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise StepFailed(f"{what} failed (exit {proc.returncode}):\n{tail}", proc.returncode)
    return proc.stdout


def ensure_meltano() -> Path:
    meltano = venv_bin(MELTANO_VENV, "meltano")
    if meltano.exists() and subprocess.run([meltano, "--version"], capture_output=True).returncode == 0:
        say(f"Meltano: {MELTANO_VENV.relative_to(ROOT)}/ is ready")
        return meltano
    say(f"Meltano: creating {MELTANO_VENV.relative_to(ROOT)}/ and installing {MELTANO_SPEC} (about half a minute)")
    run_quiet([sys.executable, "-m", "venv", MELTANO_VENV], "creating the Meltano venv")
    python = venv_bin(MELTANO_VENV, "python")
    run_quiet([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MELTANO_SPEC],
              "pip install meltano")
    return meltano


def token_source() -> str | None:
    """Which variable holds a DataOps.live token (environment or .env); never its value."""
    for var in TOKEN_VARS:
        if os.environ.get(var):
            return var
    dotenv = ROOT / ".env"
    if dotenv.is_file():
        for line in dotenv.read_text().splitlines():
            key, _, value = line.partition("=")
            key = key.strip().removeprefix("export ").strip()
            if key in TOKEN_VARS and value.strip().strip("'\""):
                return f"{key} (.env)"
    return None


class SimulatorProcess:
    """The bundled dataops-simulator on 127.0.0.1 and a free port, from the tap's venv: a shared
    instance (several customers; ``SIMULATOR_TOKEN`` is one of their engineers)."""

    def __init__(self, projects: int) -> None:
        exe = venv_bin(ROOT / ".meltano" / "utilities" / SIMULATOR / "venv", "dataops-simulator")
        if not exe.exists():
            raise StepFailed(f"{exe} is missing: `meltano install utility {SIMULATOR}` did not install it")
        self.proc = subprocess.Popen(
            [str(exe), "--instance", "--host", "127.0.0.1", "--port", "0", "--projects", str(projects),
             "--seed", "1", "--rate-limit", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        first = queue.Queue()
        threading.Thread(target=lambda: first.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = first.get(timeout=60)
        except queue.Empty:
            line = ""
        if "listening on " not in line:
            self.stop()
            raise StepFailed(f"dataops-simulator did not start (said {line.strip()!r})")
        self.url = line.split("listening on ", 1)[1].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_job(meltano: Path, environment: str, env: dict[str, str]) -> None:
    cmd = [str(meltano), "--log-format", "json", "--environment", environment, "run", JOB]
    say(f"Running: meltano --environment {environment} run {JOB} (extract, load, build the models)")
    progress = RunProgress(out=say)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        progress.line(line)
    code = proc.wait()
    if code != 0:
        # Not the records the tap sent or the loader received: what landed is the database's to say.
        progress.failed()
        raise StepFailed(f"meltano run failed (exit {code})", code)


def database_path(meltano: Path, environment: str, env: dict[str, str]) -> Path:
    out = run_quiet([meltano, "--log-level", "warning", "--environment", environment,
                     "config", "print", "target-duckdb"], "meltano config print target-duckdb", env)
    return Path(json.loads(out)["database"])


def show_landed(database: Path, *args: str) -> int:
    """scripts/landed.py in the loader's venv (it has duckdb); its exit status."""
    python = venv_bin(ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv", "python")
    return subprocess.run([str(python), str(ROOT / "scripts" / "landed.py"), str(database), *args]).returncode


def show_landed_after_failure(database: Path | None) -> None:
    if database is None:
        return
    if not database.is_file():
        say(f"\nNothing landed: {database} does not exist.")
        return
    say(f"\nWhat {database} holds after the failure (committed before it; the models may be older):")
    if show_landed(database) != 0:
        say("  (nothing landed)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulator-projects", type=int, default=100,
                        help="the simulated customer's projects (default 100; the instance's other customers "
                             "come on top)")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 11):  # noqa: UP036 -- run by whatever python3 the user has
        say(f"quickstart: Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
        return 1

    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    simulator: SimulatorProcess | None = None
    database: Path | None = None
    try:
        meltano = ensure_meltano()
        say(f"Plugins: meltano install {' '.join(PLUGINS)}")
        run_quiet([meltano, "--log-level", "warning", "install", *PLUGINS], "meltano install", env)

        source = token_source()
        if source:
            environment = "dataops"
            say(f"Account: the real DataOps.live account (token from {source})")
        else:
            environment = "simulator"
            run_quiet([meltano, "--log-level", "warning", "install", "utility", SIMULATOR],
                      f"meltano install utility {SIMULATOR}", env)
            simulator = SimulatorProcess(args.simulator_projects)
            env["TAP_DATAOPS_API_URL"] = simulator.url
            env["TAP_DATAOPS_PRIVATE_TOKEN"] = SIMULATOR_TOKEN
            say(f"Account: no TAP_DATAOPS_PRIVATE_TOKEN set, so the bundled simulator at {simulator.url}")

        database = database_path(meltano, environment, env)
        run_job(meltano, environment, env)
    except StepFailed as exc:
        show_landed_after_failure(database)
        say(f"quickstart: {exc}")
        return exc.code
    except KeyboardInterrupt:
        say("quickstart: interrupted")
        return 130
    finally:
        if simulator:
            simulator.stop()

    say(f"\nLanded in {database} (environment {environment}):")
    shown = show_landed(database, "--answers")
    if shown != 0:
        return shown
    say(f"\nDone in {time.monotonic() - started:.0f}s. Query it with DuckDB (the answers: schema analytics, "
        f"README: Models), or open notebooks/inventory.ipynb. "
        f"Run again: {shlex.join(['python3', 'scripts/quickstart.py'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
