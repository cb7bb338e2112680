"""The request budget, the server's rate-limit headers, and 429s."""

from __future__ import annotations

import threading
import time

from tap_dataops.budget import RequestBudget
from tests.tap.helpers import catalog_for, duplicates, run_tap, sim_config


def test_budget_never_exceeds_its_limit_in_any_window_across_threads():
    budget = RequestBudget(limit=6, window=1.0)
    starts: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            budget.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 20
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0]
        assert len(in_window) <= 6
    # and it does not wait for nothing: 20 starts at 6 per second need about 3 windows
    assert starts[-1] - starts[0] < 4.5


def test_429_is_waited_out_as_the_server_says_and_no_page_is_skipped_or_repeated(simulator):
    sim = simulator(projects=450, rate_limit=None)
    config = sim_config(sim)
    catalog = catalog_for(["projects"], config)
    sim.clear_requests()
    sim.after_requests(2, lambda tenant: sim.inject("429", count=1, retry_after=3))
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    ids = run.ids("projects")
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(p["id"] for p in sim.truth("projects"))
    served = sim.requests
    limited = [i for i, r in enumerate(served) if r.status == 429]
    assert len(limited) == 1
    refused, retried = served[limited[0]], served[limited[0] + 1]
    assert retried.query == refused.query, "the refused page must be asked for again, not skipped"
    assert retried.started - refused.finished >= 2.9, "the tap did not wait the Retry-After it was given"
    assert "waiting 3.0s as the server asks" in run.stderr


def test_low_remaining_slows_down_before_the_server_says_no(simulator):
    # The server allows 12 requests per 2-second window; the tap's own budget would allow 600/min.
    sim = simulator(projects=2_000, rate_limit=12, rate_window=2.0)
    config = sim_config(sim)
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    assert [r for r in sim.requests if r.status == 429] == []


def test_retry_after_longer_than_the_users_patience_ends_the_run_clearly(simulator):
    sim = simulator(projects=300, rate_limit=None)
    config = sim_config(sim, max_rate_limit_wait=5)
    catalog = catalog_for(["projects"], config)
    sim.after_requests(1, lambda tenant: sim.inject("429", count=1, retry_after=3600))
    started = time.monotonic()
    run = run_tap(config, catalog=catalog)
    assert time.monotonic() - started < 60
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    assert "asks to wait 3600s, longer than max_rate_limit_wait (5s)" in run.error_lines()[0]
    assert "Traceback" not in run.stderr
