"""The token is never exposed: every command, at DEBUG level, with a recognisable token.

Searched for the token: stdout, stderr (the logs), the STATE the loader emitted, every
value in the database (and the file's raw bytes), and exception messages with their
traceback (TAP_DATAOPS_TRACEBACK=1). The logs do carry the request lines at DEBUG (so the
test would see a token in a URL), and never the authentication header's value.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import duckdb

from tests.pipeline.harness import SIMULATOR, TAP, Pipeline, tables

SECRET = "glpat-Leak-Canary-7Q3xZ9"  # recognisable: any occurrence is a leak
JOB_SECRET = "job-Leak-Canary-4M8wK2"
DEBUG = {"TAP_DATAOPS_LOG_LEVEL": "debug", "TARGET_DATAOPS_DUCKDB_LOG_LEVEL": "debug", "LOGLEVEL": "DEBUG"}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (SECRET, JOB_SECRET):
            assert secret not in text
            assert secret[6:] not in text  # nor a part of it


def database_text(database: Path) -> str:
    with duckdb.connect(str(database), read_only=True) as con:
        parts = [repr(con.execute(f'SELECT * FROM "{name}"').fetchall()) for name in sorted(tables(database))]
    return "\n".join(parts) + database.read_bytes().decode("latin-1")


def test_tap_about_and_discover_at_debug(simulator, tmp_path):
    sim = simulator(projects=3, tokens=(SECRET,), rate_limit=None)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_url": sim.url, "private_token": SECRET}))
    env = {**os.environ, **DEBUG}
    for args in (["--about"], ["--about", "--format", "json"], ["--discover"], ["--test"]):
        done = subprocess.run([TAP, "--config", str(config), *args], capture_output=True, text=True, env=env,
                              timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert_no_secret(done.stdout, done.stderr)


def test_pipeline_with_faults_at_debug_leaks_nothing(simulator, tmp_path):
    sim = simulator(projects=30, tokens=(SECRET,), rate_limit=None, fault_rate=0.05, fault_seed=5, stall_seconds=1.5)
    pipeline = Pipeline(sim, tmp_path, tap={"private_token": SECRET, "request_timeout": 1},
                        loader={"add_record_metadata": True}, env=DEBUG)
    run = pipeline.run()
    assert run.ok, run.describe()
    assert " | DEBUG " in run.tap_stderr and " | DEBUG " in run.loader_stderr  # really at DEBUG
    assert '"GET /api/v4/groups?' in run.tap_stderr  # request lines are logged: a token in a URL would show
    assert_no_secret(run.tap_stderr, run.loader_stderr, json.dumps(run.states), database_text(pipeline.database))


def test_failures_with_tracebacks_at_debug_leak_nothing(simulator, tmp_path):
    sim = simulator(projects=30, tokens=(SECRET,), job_tokens=(JOB_SECRET,), rate_limit=None)
    sim.expire_token(SECRET, after_requests=20)
    pipeline = Pipeline(sim, tmp_path, tap={"private_token": SECRET}, env={**DEBUG, "TAP_DATAOPS_TRACEBACK": "1"})
    expired = pipeline.run()
    # TAP_DATAOPS_TRACEBACK=1: an unexpected exception would be printed in full, with its traceback
    assert expired.tap_rc != 0 and "token has expired" in expired.tap_errors()[0]
    assert_no_secret(expired.tap_stderr, expired.loader_stderr, json.dumps(expired.states))

    # A rejected token, config errors echoing the secrets' settings, the job token (refused).
    for settings in ({"private_token": SECRET + "x"}, {"private_token": SECRET, "job_token": JOB_SECRET},
                     {"private_token": SECRET, "page_size": SECRET}, {"job_token": JOB_SECRET}):
        pipeline.tap_settings = {"api_url": sim.url, "requests_per_minute": 60_000, **settings}
        failed = pipeline.run()
        assert failed.tap_rc != 0
        assert_no_secret(failed.tap_stderr, failed.loader_stderr)

    # An unexpected exception (a stream map whose expression fails on every record): at DEBUG
    # its traceback is logged, with TAP_DATAOPS_TRACEBACK=1 it is raised whole. Neither names the token.
    pipeline.tap_settings = {"api_url": sim.url, "private_token": SECRET, "requests_per_minute": 60_000,
                             "stream_maps": {"projects": {"boom": "int('not a number')"}}}
    sim.expire_token(SECRET, after_requests=10_000)
    for env in (DEBUG, {**DEBUG, "TAP_DATAOPS_TRACEBACK": "1"}):
        pipeline.env = {**os.environ, **env}
        crashed = pipeline.run(state=None)
        assert crashed.tap_rc == 1 and "Traceback (most recent call last)" in crashed.tap_stderr, crashed.describe()
        assert "invalid literal for int()" in crashed.tap_stderr
        assert_no_secret(crashed.tap_stderr, crashed.loader_stderr)
    assert_no_secret(*(r.tap_stderr + r.loader_stderr + json.dumps(r.states) for r in pipeline.runs),
                     database_text(pipeline.database))



def test_token_from_the_environment_and_the_simulator_command(tmp_path):
    """``--config ENV`` (the token in TAP_DATAOPS_PRIVATE_TOKEN) against ``dataops-simulator``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stats = tmp_path / "stats.json"
    server = subprocess.Popen([SIMULATOR, "--port", str(port), "--projects", "5", "--token", SECRET,
                               "--rate-limit", "0", "--stats-file", str(stats)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        env = {**os.environ, **DEBUG, "TAP_DATAOPS_PRIVATE_TOKEN": SECRET,
               "TAP_DATAOPS_API_URL": f"http://127.0.0.1:{port}/api/v4", "TAP_DATAOPS_REQUESTS_PER_MINUTE": "60000"}
        for _ in range(50):  # wait for the port to open
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            subprocess.run(["sleep", "0.1"], check=True)
        done = subprocess.run([TAP, "--config", "ENV"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert '"type":"RECORD"' in done.stdout.replace(" ", "")
        assert_no_secret(done.stdout, done.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert_no_secret(out, err, stats.read_text() if stats.exists() else "")
