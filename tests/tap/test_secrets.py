"""The token never appears in any output, at any log level, in success or failure."""

from __future__ import annotations

from tests.tap.helpers import TOKEN, run_tap, sim_config

DEBUG = {"TAP_DATAOPS_LOG_LEVEL": "debug", "LOGLEVEL": "DEBUG"}


def test_token_absent_from_all_output_at_debug_level(simulator):
    sim = simulator(projects=30, fault_rate=0.1, fault_seed=3, stall_seconds=1.5, rate_limit=None)
    run = run_tap(sim_config(sim, request_timeout=1), env=DEBUG)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "DEBUG" in run.stderr  # the run really logged at debug level
    assert TOKEN not in run.stdout
    assert TOKEN not in run.stderr


def test_token_absent_when_the_run_fails(simulator):
    sim = simulator(projects=20, rate_limit=None)
    sim.expire_token(TOKEN, after_requests=1)
    run = run_tap(sim_config(sim), env=DEBUG)
    assert run.returncode != 0
    assert TOKEN not in run.stdout + run.stderr


def test_job_token_absent_from_output(simulator):
    sim = simulator(projects=20, rate_limit=None, job_tokens=("job-Secret-9911",))
    run = run_tap({"api_url": sim.url, "job_token": "job-Secret-9911"}, env=DEBUG)
    assert run.returncode == 2, run.stderr[-2000:]  # refused at startup (tests/tap/test_config_and_cli.py)
    assert "job-Secret-9911" not in run.stdout + run.stderr

