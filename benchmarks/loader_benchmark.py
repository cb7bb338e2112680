"""Benchmark: target-dataops-duckdb against target-duckdb 0.8.0 on the same Singer stream.

Generates N GitLab-project-like records (35 fields: integers, strings including empty
strings, booleans, date-times with UTC offsets, a date, a nested namespace object, a
topics array, nulls) as one Singer stream file, then runs both loaders on that file in
the same run, each as a subprocess reading the file on standard input. It measures wall
time and the peak resident memory of each loader's process tree (sampled with psutil),
checks the row count each loader left in its DuckDB file, and prints records/s, peak
memory and the ratio.

target-duckdb 0.8.0 is installed into its own virtual environment (default
.venv-bench/ beside this file; PyPI must be reachable the first time).

    python benchmarks/loader_benchmark.py [--records 200000] [--batch-size-rows N]
                                          [--skip-target-duckdb] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import venv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
STREAM = "projects"

PROJECT_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "path": {"type": "string"},
        "name_with_namespace": {"type": "string"},
        "path_with_namespace": {"type": "string"},
        "description": {"type": ["null", "string"]},
        "default_branch": {"type": ["null", "string"]},
        "visibility": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
        "last_activity_at": {"type": ["null", "string"], "format": "date-time"},
        "marked_for_deletion_on": {"type": ["null", "string"], "format": "date"},
        "ssh_url_to_repo": {"type": "string"},
        "http_url_to_repo": {"type": "string"},
        "web_url": {"type": "string"},
        "readme_url": {"type": ["null", "string"]},
        "avatar_url": {"type": ["null", "string"]},
        "forks_count": {"type": "integer"},
        "star_count": {"type": "integer"},
        "open_issues_count": {"type": ["null", "integer"]},
        "creator_id": {"type": ["null", "integer"]},
        "ci_default_git_depth": {"type": ["null", "integer"]},
        "repository_size_mb": {"type": ["null", "number"]},
        "archived": {"type": "boolean"},
        "empty_repo": {"type": "boolean"},
        "issues_enabled": {"type": ["null", "boolean"]},
        "merge_requests_enabled": {"type": ["null", "boolean"]},
        "wiki_enabled": {"type": ["null", "boolean"]},
        "jobs_enabled": {"type": ["null", "boolean"]},
        "shared_runners_enabled": {"type": ["null", "boolean"]},
        "import_status": {"type": ["null", "string"]},
        "repository_access_level": {"type": ["null", "string"]},
        "build_timeout": {"type": ["null", "integer"]},
        "namespace": {
            "type": ["null", "object"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "path": {"type": "string"},
                "kind": {"type": "string"},
                "full_path": {"type": "string"},
                "parent_id": {"type": ["null", "integer"]},
                "web_url": {"type": "string"},
            },
        },
        "topics": {"type": ["null", "array"], "items": {"type": "string"}},
    },
}
assert len(PROJECT_SCHEMA["properties"]) == 35

_OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)),
            timezone(timedelta(hours=5, minutes=30))]
_TOPICS = ["snowflake", "dbt", "dataops", "ingestion", "ml", "reporting", "finance", "hr"]
_WORDS = ["alpha", "beta", "gamma", "delta", "orbit", "lake", "mart", "vault", "core", "edge"]


def project_record(i: int, rng: random.Random) -> dict:
    """One GitLab-project-like record (35 fields)."""
    group = i // 50
    ns_path = f"group-{group}"
    name = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{i}"
    base = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(90_000_000))
    tz = rng.choice(_OFFSETS)
    created = base.astimezone(tz)
    updated = (base + timedelta(seconds=rng.randrange(3_000_000))).astimezone(tz)
    web = f"https://app.dataops.live/{ns_path}/{name}"
    return {
        "id": i + 1,
        "name": name,
        "path": name,
        "name_with_namespace": f"Group {group} / {name}",
        "path_with_namespace": f"{ns_path}/{name}",
        "description": rng.choice(["", None, f"Data product {name} for {rng.choice(_WORDS)} analytics"]),
        "default_branch": rng.choice(["main", "master", None]),
        "visibility": rng.choice(["private", "internal", "public"]),
        "created_at": created.isoformat(timespec="milliseconds"),
        "updated_at": updated.isoformat(timespec="milliseconds"),
        "last_activity_at": rng.choice([None, updated.isoformat()]),
        "marked_for_deletion_on": rng.choice([None, None, None, updated.date().isoformat()]),
        "ssh_url_to_repo": f"git@app.dataops.live:{ns_path}/{name}.git",
        "http_url_to_repo": f"{web}.git",
        "web_url": web,
        "readme_url": rng.choice([None, f"{web}/-/blob/main/README.md"]),
        "avatar_url": None,
        "forks_count": rng.randrange(5),
        "star_count": rng.randrange(100),
        "open_issues_count": rng.choice([None, rng.randrange(300)]),
        "creator_id": rng.randrange(1, 5000),
        "ci_default_git_depth": rng.choice([None, 20, 50]),
        "repository_size_mb": rng.choice([None, round(rng.random() * 500, 3)]),
        "archived": rng.random() < 0.1,
        "empty_repo": rng.random() < 0.05,
        "issues_enabled": rng.choice([True, False, None]),
        "merge_requests_enabled": rng.choice([True, False]),
        "wiki_enabled": rng.choice([True, False]),
        "jobs_enabled": True,
        "shared_runners_enabled": rng.choice([True, False]),
        "import_status": rng.choice(["none", "finished", ""]),
        "repository_access_level": rng.choice(["enabled", "private", "disabled"]),
        "build_timeout": 3600,
        "namespace": {
            "id": group + 1,
            "name": f"Group {group}",
            "path": ns_path,
            "kind": "group",
            "full_path": ns_path,
            "parent_id": rng.choice([None, 1]),
            "web_url": f"https://app.dataops.live/groups/{ns_path}",
        },
        "topics": rng.sample(_TOPICS, rng.randrange(4)),
    }


def write_stream(path: Path, records: int, *, seed: int = 7, state_every: int = 10_000) -> None:
    """Write a Singer stream: SCHEMA, RECORDs, a STATE every `state_every` records."""
    rng = random.Random(seed)
    extracted = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "SCHEMA", "stream": STREAM, "schema": PROJECT_SCHEMA,
                              "key_properties": ["id"]}) + "\n")
        for i in range(records):
            out.write(json.dumps({"type": "RECORD", "stream": STREAM,
                                  "record": project_record(i, rng),
                                  "time_extracted": extracted}, separators=(",", ":")) + "\n")
            if (i + 1) % state_every == 0 or i + 1 == records:
                out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"last_id": i + 1}}}}) + "\n")


# ---------------------------------------------------------------------------
# Running the loaders


def _venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def ensure_target_duckdb(folder: Path) -> Path:
    """A virtual environment with target-duckdb 0.8.0; returns its console script."""
    script = folder / "bin" / "target-duckdb"
    if script.exists():
        return script
    print(f"installing target-duckdb 0.8.0 into {folder} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    subprocess.run([str(_venv_python(folder)), "-m", "pip", "install", "--quiet", "target-duckdb==0.8.0"],
                   check=True)
    return script


def _tree_rss(proc) -> int:
    import psutil  # noqa: PLC0415

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # a child that just ended
            total += p.memory_info().rss
    return total


def run_loader(name: str, command: list[str], stream_file: Path, cwd: Path) -> dict:
    """Run one loader on the stream file; wall time, peak RSS of its process tree."""
    import psutil  # noqa: PLC0415

    with stream_file.open("rb") as stdin, (cwd / f"{name}.stdout").open("wb") as out, \
            (cwd / f"{name}.stderr").open("wb") as err:
        started = time.perf_counter()
        popen = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err, cwd=cwd)
        proc = psutil.Process(popen.pid)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = popen.wait()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    if returncode != 0:
        tail = (cwd / f"{name}.stderr").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"{name} failed (exit {returncode}):\n" + "\n".join(tail))
    return {"seconds": elapsed, "peak_rss": peak}


def count_rows(database: Path, table: str) -> int:
    import duckdb  # noqa: PLC0415

    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch-size-rows", type=int, default=None,
                        help="batch_size_rows for target-dataops-duckdb (default: its own default)")
    parser.add_argument("--skip-target-duckdb", action="store_true")
    parser.add_argument("--venv", type=Path, default=HERE / ".venv-bench",
                        help="virtual environment for target-duckdb 0.8.0")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep files here (default: a temp dir); a stream of the same size there is reused")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="loader-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stream_file = workdir / f"projects-{args.records}.singer.jsonl"
    if stream_file.exists():  # the same seed and size: the same bytes (interleaved runs share it)
        print(f"reusing {stream_file} ({stream_file.stat().st_size / 1e6:.0f} MB)", flush=True)
    else:
        started = time.perf_counter()
        write_stream(stream_file, args.records)
        print(f"generated {args.records:,} records ({stream_file.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f}s: {stream_file}", flush=True)

    results: dict[str, dict] = {}

    ours_db = workdir / "ours.duckdb"
    ours_db.unlink(missing_ok=True)
    ours_config = {"database": str(ours_db)}
    if args.batch_size_rows:
        ours_config["batch_size_rows"] = args.batch_size_rows
    (workdir / "ours.json").write_text(json.dumps(ours_config))
    ours_script = shutil.which("target-dataops-duckdb") or str(Path(sys.executable).parent / "target-dataops-duckdb")
    results["target-dataops-duckdb"] = run_loader(
        "target-dataops-duckdb", [ours_script, "--config", str(workdir / "ours.json")], stream_file, workdir)
    results["target-dataops-duckdb"]["rows"] = count_rows(ours_db, "main.projects")

    if not args.skip_target_duckdb:
        script = ensure_target_duckdb(args.venv)
        theirs_db = workdir / "target_duckdb.duckdb"
        theirs_db.unlink(missing_ok=True)
        (workdir / "theirs.json").write_text(json.dumps({"filepath": str(theirs_db), "default_target_schema": "main"}))
        results["target-duckdb 0.8.0"] = run_loader(
            "target-duckdb", [str(script), "--config", str(workdir / "theirs.json")], stream_file, workdir)
        results["target-duckdb 0.8.0"]["rows"] = count_rows(theirs_db, "main.projects")

    print()
    print(f"{'loader':<24}{'seconds':>9}{'records/s':>12}{'peak RSS':>11}{'rows':>10}{'distinct':>10}{'missing':>9}")
    for name, r in results.items():
        rows, distinct = r["rows"]
        r["rate"] = args.records / r["seconds"]
        print(f"{name:<24}{r['seconds']:>9.1f}{r['rate']:>12,.0f}{r['peak_rss'] / 2**20:>9,.0f}MB"
              f"{rows:>10,}{distinct:>10,}{args.records - distinct:>9,}")
    if len(results) == 2:
        ours, theirs = results["target-dataops-duckdb"], results["target-duckdb 0.8.0"]
        print(f"\nspeed ratio: {ours['rate'] / theirs['rate']:.1f}x; "
              f"peak memory ratio: {theirs['peak_rss'] / max(ours['peak_rss'], 1):.1f}x less")
    print(f"(files in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
