"""Transient faults are retried until the data is exact; persistent ones end in one line."""

from __future__ import annotations

import pytest

from tests.tap.helpers import catalog_for, duplicates, run_tap, sim_config

FAULT_KINDS = ["500", "502_html", "503_retry_after", "reset", "stall", "truncated", "empty"]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_recovered_and_the_data_is_exact(simulator, kind):
    sim = simulator(projects=250, rate_limit=None, stall_seconds=3.0)
    config = sim_config(sim, request_timeout=1)
    catalog = catalog_for(["projects", "namespaces"], config)
    sim.after_requests(1, lambda tenant: sim.inject(kind, count=2))
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    for stream in ("projects", "namespaces"):
        ids = run.ids(stream)
        assert duplicates(ids) == []
        assert sorted(ids) == sorted(r["id"] for r in sim.truth(stream))
    # Both injected faults were met (a stalled request is logged only when the server finishes
    # it, after the tap gave up on it, so count what the simulator handed out instead).
    assert sim.faults.pending() == 0
    if kind != "stall":
        assert sum(1 for r in sim.requests if r.fault == kind) == 2
    assert "retrying in" in run.stderr


def test_random_faults_and_429_bursts_still_give_exact_data(simulator):
    sim = simulator(projects=1_500, rate_limit=None, fault_rate=0.1, fault_seed=7, stall_seconds=2.0)
    config = sim_config(sim, request_timeout=1, page_size=50)
    run = run_tap(config, catalog=catalog_for(["projects", "namespaces"], config))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in ("projects", "namespaces"):
        ids = run.ids(stream)
        assert duplicates(ids) == []
        assert sorted(ids) == sorted(r["id"] for r in sim.truth(stream))
    assert any(r.fault for r in sim.requests)


def test_persistent_server_errors_end_in_one_line_naming_the_endpoint(simulator):
    sim = simulator(projects=50, rate_limit=None)
    config = sim_config(sim, retry_time_budget=2)
    catalog = catalog_for(["projects"], config)
    sim.inject("502_html", count=10_000, path_prefix="/api/v4/projects")
    run = run_tap(config, catalog=catalog)
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    line = run.error_lines()[0]
    assert "GET /api/v4/projects failed after" in line and "502" in line
    assert "Traceback" not in run.stderr


def test_rejected_token_is_one_line_and_not_retried(simulator):
    sim = simulator(projects=50)
    run = run_tap(sim_config(sim, private_token="glpat-wrong-token-value"))
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    assert "rejected the token (401 Unauthorized); check private_token" in run.error_lines()[0]
    assert len(sim.requests) == 1
    assert "glpat-wrong-token-value" not in run.stdout + run.stderr


def test_expired_token_mid_run_says_so(simulator):
    from tests.tap.helpers import TOKEN

    sim = simulator(projects=400, rate_limit=None)
    sim.expire_token(TOKEN, after_requests=2)
    run = run_tap(sim_config(sim))
    assert run.returncode != 0
    assert "token has expired or was revoked" in run.error_lines()[0]
    assert len(run.error_lines()) == 1


def test_listing_that_answers_404_is_a_clear_error(simulator):
    sim = simulator(projects=5)
    # A wrong prefix in front of /api/v4: every listing answers 404.
    run = run_tap(sim_config(sim, api_url=sim.url.replace("/api/v4", "/nowhere/api/v4")))
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    assert "answered 404" in run.error_lines()[0]
    assert "Traceback" not in run.stderr
