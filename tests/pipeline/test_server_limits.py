"""Server-side limits end the run loudly, with a state to resume from, never a silent hang.

- a 429 whose Retry-After is longer than max_rate_limit_wait (the user's patience);
- a token that expires mid-run (401 invalid_token);
- server errors that outlast retry_time_budget.

Each: the tap exits non-zero with one line naming the cause and the fix; the loader
commits what came before and emits its STATE; the next run, from that state (and with a
new token where the token expired), completes and the database equals the truth.
"""

from __future__ import annotations

from tests.pipeline.harness import TOKEN, Pipeline


def tenant(simulator, seed: int):
    return simulator(projects=40, seed=seed, rate_limit=None, pipelines_per_project=(0, 4),
                     tokens=(TOKEN, "glpat-New-T0ken-5151"))


def assert_loud_and_resumable(pipeline: Pipeline, run, expected: str) -> None:
    assert run.tap_rc == 1, run.describe()
    assert len(run.tap_errors()) == 1, run.describe()
    assert expected in run.tap_errors()[0], run.describe()
    assert "Traceback" not in run.tap_stderr + run.loader_stderr
    # The loader saw the tap's output end: it committed everything and confirmed the last STATE.
    assert run.loader_rc == 0 and run.loader_errors() == [], run.describe()
    assert run.states, "the loader emitted the state to resume from"


def test_retry_after_longer_than_max_rate_limit_wait_ends_the_run_with_a_resumable_state(simulator, tmp_path):
    sim = tenant(simulator, 31)
    pipeline = Pipeline(sim, tmp_path, tap={"max_rate_limit_wait": 5}, loader={"batch_size_rows": 30})
    sim.after_requests(90, lambda _t: sim.inject("429", count=1, retry_after=3600))
    run = pipeline.run(timeout=90)  # a silent hang would wait an hour
    assert_loud_and_resumable(
        pipeline, run,
        "was rate limited and DataOps.live asks to wait 3600s, longer than max_rate_limit_wait (5s); "
        "rerun later with the last state, or raise max_rate_limit_wait")
    assert pipeline.until_complete().ok
    pipeline.assert_equals_truth()


def test_token_expiring_mid_run_says_so_and_a_new_token_resumes(simulator, tmp_path):
    sim = tenant(simulator, 32)
    pipeline = Pipeline(sim, tmp_path, loader={"batch_size_rows": 30})
    sim.expire_token(TOKEN, after_requests=90)
    run = pipeline.run()
    assert_loud_and_resumable(
        pipeline, run,
        "the token has expired or was revoked (401 invalid_token); create a new token and set private_token")
    assert pipeline.run().tap_rc == 1  # the same token again: the same clear line, nothing lost
    pipeline.tap_settings["private_token"] = "glpat-New-T0ken-5151"
    assert pipeline.until_complete().ok
    pipeline.assert_equals_truth()


def test_server_errors_outlasting_the_retry_budget_fail_loudly_and_resume(simulator, tmp_path):
    sim = tenant(simulator, 33)
    pipeline = Pipeline(sim, tmp_path, tap={"retry_time_budget": 1}, loader={"batch_size_rows": 30})
    sim.after_requests(60, lambda _t: sim.inject("502_html", count=10_000, path_prefix="/api/v4/projects/"))
    run = pipeline.run()
    assert_loud_and_resumable(pipeline, run, "502")
    assert "DataOps.live may be unavailable; rerun later (the run resumes from its last state)" in run.tap_errors()[0]
    with sim.faults._lock:  # the server recovers (the simulator has no public "un-inject")
        sim.faults._injected.clear()
    assert pipeline.until_complete().ok
    pipeline.assert_equals_truth()
