"""The request budgets, the server's 429s, and the waits they ask for.

GitLab's two kinds of 429 (lib/gitlab/rack_attack.rb, lib/api/helpers/rate_limiter.rb): the
per-user throttle answers plain text ``Retry later`` with ``RateLimit-*`` and ``Retry-After``
(seconds left in its window), only on the 429; a per-endpoint limit answers JSON with
``Retry-After: <interval>`` on recent versions and no header at all on older ones.
"""

from __future__ import annotations

import threading

import pytest

from tap_dataops.budget import RequestBudget
from tests.tap.helpers import catalog_for, duplicates, run_tap, sim_config


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (from any thread)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def time(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_budget_at_600_a_minute_never_lets_601_into_any_minute_and_wastes_no_time():
    """600 per 61 s (DataOps.live allows 600 per user per minute): in every 60-second span,
    at most 600 starts; the 601st starts exactly when the first leaves the window."""
    clock = FakeClock()
    budget = RequestBudget(600, clock=clock.time, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            budget.acquire()
            with lock:
                starts.append(clock.time())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 2000
    j = 0
    for i, start in enumerate(starts):  # the busiest 60-second span
        while starts[j] <= start - 60.0:
            j += 1
        assert i - j + 1 <= 600, f"{i - j + 1} requests started within 60 s"
    assert starts[599] == starts[0]  # the first 600 at once: nothing waits for nothing
    assert starts[600] >= starts[0] + 61.0
    assert starts[600] <= starts[0] + 61.0 + 5.0  # and not much later (sleeps are at most 5 s)


def test_a_429_with_only_retry_after_is_waited_out_and_the_same_page_asked_again(simulator):
    """A per-endpoint limit (GET /projects, ApplicationRateLimiter ``projects_api``) with
    ``Retry-After: <interval>`` and no RateLimit-* headers. Waiting less than it asks runs into
    the same window and is refused again: one 429 per exhausted window is the most there can be."""
    sim = simulator(projects=60, rate_limit=None, endpoint_limits={"projects_api": (2, 3, False)})
    config = sim_config(sim, page_size=10, endpoint_rate_limits={"GET /projects": [0, 3]})
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    served = [r for r in sim.requests if r.path.endswith("/projects")]
    limited = [i for i, r in enumerate(served) if r.status == 429]
    pages = len(served) - len(limited)
    assert limited and len(limited) <= pages // 2, f"{len(limited)} refusals for {pages} pages"
    for i in limited:
        assert served[i + 1].query == served[i].query, "the refused page must be asked for again, not skipped"
    assert "waiting 3.0s as the server asks" in run.stderr


def test_a_429_whose_retry_after_outlasts_its_reset_waits_the_retry_after(simulator):
    """GitLab computes both from the throttle's period (lib/gitlab/rack_attack.rb
    ``throttled_response_headers``: Retry-After = period - now % period, RateLimit-Reset = now +
    that, as Unix time), but RateLimit-Reset is read against our clock: a clock ahead of the
    server's sees it sooner than Retry-After. The tap waits what Retry-After says, here 3 s
    although the reset reads as 1 s away. Measured on the server's side: the refused page is
    asked again no sooner than 3 s after the refusal."""
    sim = simulator(projects=30, rate_limit=None)
    config = sim_config(sim, page_size=10)
    sim.after_requests(1, lambda tenant: sim.inject("429", count=1, retry_after=3, reset_after=1))
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    served = sim.requests
    (refused,) = [i for i, r in enumerate(served) if r.status == 429]
    again = served[refused + 1]
    assert again.query == served[refused].query, "the refused page is asked for again"
    assert again.started - served[refused].finished >= 3.0 - 0.05


def test_a_429_without_any_header_waits_that_endpoints_interval(simulator):
    """Older GitLab answers a per-endpoint 429 with no header at all: the tap waits the endpoint's
    interval from endpoint_rate_limits (not the per-user minute, not nothing)."""
    sim = simulator(projects=60, rate_limit=None, endpoint_limits={"projects_api": (2, 3, False)},
                    endpoint_retry_after=False)
    config = sim_config(sim, page_size=10, endpoint_rate_limits={"GET /projects": [0, 3]})
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    served = [r for r in sim.requests if r.path.endswith("/projects")]
    limited = sum(r.status == 429 for r in served)
    assert limited and limited <= (len(served) - limited) // 2
    assert "waiting 3.0s as the server asks" in run.stderr


def test_low_remaining_slows_down_before_the_server_says_no(simulator):
    """Behind a proxy that sends RateLimit-* on every answer (GitLab itself sends them only on
    429s), the tap pauses when few remain instead of spending the last ones. The window's quota
    is RateLimit-Observed + RateLimit-Remaining (GitLab's doc/administration/settings/
    user_and_ip_rate_limits.md: Limit is per minute, Observed and Remaining are in the window),
    so a 2-second window of 12 pauses at 6 left, not after every answer."""
    sim = simulator(projects=400, rate_limit=12, rate_window=2.0, rate_limit_headers="always")
    config = sim_config(sim, page_size=20)

    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    assert [r for r in sim.requests if r.status == 429] == []


def test_retry_after_longer_than_the_users_patience_ends_the_run_clearly(simulator):
    sim = simulator(projects=300, rate_limit=None)
    config = sim_config(sim, max_rate_limit_wait=5)
    catalog = catalog_for(["projects"], config)
    sim.after_requests(1, lambda tenant: sim.inject("429", count=1, retry_after=3600))
    run = run_tap(config, catalog=catalog, timeout=60)
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    assert "asks to wait 3600s, longer than max_rate_limit_wait (5s)" in run.error_lines()[0]
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_a_run_at_a_low_real_limit_stays_under_the_servers_own_count(simulator):
    """End to end at the tap's real budget (requests_per_minute=30, a 61-second window) against a
    simulator that allows 30 per minute per user: no 429, and the simulator's own count of the
    busiest 60 seconds stays at or under 30, across 8 threads. Takes one window (about a minute)."""
    from dataops_simulator.__main__ import served_summary

    sim = simulator(projects=200, rate_limit=30, rate_window=60.0)
    config = sim_config(sim, requests_per_minute=30, page_size=5, max_concurrency=8)
    catalog = catalog_for(["projects"], config)
    sim.clear_requests()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-2000:]
    ids = run.ids("projects")
    assert duplicates(ids) == [] and sorted(ids) == sorted(p["id"] for p in sim.truth("projects"))
    summary = served_summary(sim.requests, 60.0)
    assert summary["requests"] > 30, "the run must need more than one window"
    assert summary["rate_limited_429"] == 0
    assert summary["busiest_sliding_window"] <= 30

