"""The command line as a user meets it: --about, --discover, and refused configs."""

from __future__ import annotations

import json

import pytest

from tests.tap.helpers import TOKEN, run_tap, sim_config

SETTINGS = {
    "api_url", "private_token", "job_token", "start_date", "page_size", "requests_per_minute",
    "request_timeout", "user_agent", "allow_insecure_http", "retry_time_budget", "max_rate_limit_wait",
}


def test_about_lists_every_setting_and_marks_tokens_secret():
    about = run_tap({}, "--about", "--format", "json")
    assert about.returncode == 0, about.stderr
    info = json.loads(about.stdout)
    properties = info["settings"]["properties"]
    assert set(properties) >= SETTINGS
    assert properties["private_token"].get("secret") is True
    assert properties["job_token"].get("secret") is True
    assert properties["api_url"]["default"] == "https://app.dataops.live/api/v4"
    assert properties["page_size"]["default"] == 100


def test_discover_needs_no_request(simulator):
    sim = simulator(projects=5)
    discovered = run_tap(sim_config(sim), "--discover")
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert {"projects", "namespaces"} <= set(streams)
    assert streams["projects"]["key_properties"] == ["id"]
    assert streams["namespaces"]["key_properties"] == ["id"]
    assert sim.requests == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"api_url": "{url}"}, "no token configured: set private_token"),
        ({"api_url": "{url}", "private_token": TOKEN, "job_token": "job-" + TOKEN}, "both private_token and job_token"),
        ({"api_url": "not a url", "private_token": TOKEN}, "api_url 'not a url' is not a valid http(s) URL"),
        ({"api_url": "ftp://example.com/api/v4", "private_token": TOKEN}, "is not a valid http(s) URL"),
        ({"api_url": "https://app.dataops.live", "private_token": TOKEN}, "must be the API base URL ending in /api/v4"),
        ({"api_url": "http://app.dataops.live/api/v4", "private_token": TOKEN}, "plain http:// to a remote host"),
        ({"api_url": "{url}", "private_token": TOKEN, "page_size": 500}, "page_size"),
        ({"api_url": "{url}", "private_token": TOKEN, "page_size": "many"}, "page_size"),
        ({"api_url": "{url}", "private_token": TOKEN, "requests_per_minute": 0}, "requests_per_minute"),
        ({"api_url": "{url}", "private_token": 12345678}, "private_token"),
        ({"api_url": "{url}", "private_token": TOKEN, "start_date": "last tuesday"}, "start_date"),
    ],
)
def test_bad_config_is_refused_in_one_line_before_any_request(simulator, config, expected):
    sim = simulator(projects=5)
    config = {k: (v.format(url=sim.url) if isinstance(v, str) else v) for k, v in config.items()}
    run = run_tap(config)
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr
    assert expected in run.error_lines()[0]
    assert "Traceback" not in run.stderr
    assert TOKEN not in run.stderr + run.stdout
    assert "12345678" not in run.stderr
    assert sim.requests == []


def test_plain_http_to_a_remote_host_needs_the_explicit_opt_in():
    # A pure check of the rule (no traffic may leave this machine in tests).
    from tap_dataops.checks import check_settings
    from tap_dataops.errors import ConfigError

    config = {"api_url": "http://dataops.internal.example/api/v4", "private_token": TOKEN}
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        check_settings(config)
    check_settings({**config, "allow_insecure_http": True})
    check_settings({**config, "api_url": "http://127.0.0.1:8080/api/v4"})
    check_settings({**config, "api_url": "http://[::1]:8080/api/v4"})


def test_a_job_token_is_refused_at_startup_naming_what_it_can_read():
    """GitLab authenticates CI_JOB_TOKEN only on routes marked job_token_allowed (the job's own
    job; on recent versions its project's pipelines) and treats every other request as
    anonymous: public projects only, 401 on members and namespaces
    (lib/gitlab/auth/auth_finders.rb find_user_from_job_token, doc/ci/jobs/ci_job_token.md).
    A run with one would land a small, wrong inventory and blame the token: refused instead,
    before any request (tests/pipeline/test_real_account.py shows what the API answers it)."""
    from dataops_simulator import Simulator

    with Simulator.instance(projects=10, seed=2) as sim:
        run = run_tap({"api_url": sim.url, "job_token": "sim-job-token"})
        assert run.returncode == 2, run.stderr[-2000:]
        (line,) = run.error_lines()
        assert "job_token (CI_JOB_TOKEN) cannot read the inventory" in line
        assert "private_token" in line and "access token" in line
        assert sim.requests == []



def test_unreadable_state_file_is_one_line(simulator, tmp_path):
    sim = simulator(projects=3)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(sim_config(sim)))
    state_path = tmp_path / "state.json"
    state_path.write_text('{"bookmarks": ')
    import subprocess

    from tests.tap.helpers import TAP_COMMAND

    done = subprocess.run(
        [*TAP_COMMAND, "--config", str(config_path), "--state", str(state_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("tap-dataops:")]
    assert len(lines) == 1 and "not valid JSON" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_connection_test_ends_with_a_verdict_and_no_error_lines(simulator):
    """`--test` (the SDK's connection test: the first record of every stream) says that it
    passed; it used to print the SDK's ERROR line for every stream it cut short, and no verdict.
    With a rejected token it is the one-line error of any run."""
    sim = simulator(projects=10, rate_limit=None)
    passed = run_tap(sim_config(sim), "--test")
    assert passed.returncode == 0, passed.stderr
    lines = passed.stderr.splitlines()
    assert [line for line in lines if "ERROR" in line] == []
    assert "Connection test passed, every stream answered" in lines[-1]
    failed = run_tap(sim_config(sim, private_token="glpat-Wrong-0000"), "--test")
    assert failed.returncode == 1
    assert len(failed.error_lines()) == 1 and "rejected the token (401" in failed.error_lines()[0]
