"""The whole platform inventory of a single tenant, read by an administrator in the default scope:
every stream exact, foreign keys, skips, and what a later run costs.

The real-account behaviour (an ordinary token on a shared instance, a day of changes between
runs) is in tests/pipeline/test_real_account.py.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tap_dataops.streams import STREAM_NAMES
from tests.tap.helpers import duplicates, run_tap, sim_config

KEYS = {"project_members": ("project_id", "id"), "project_members_all": ("project_id", "id"),
        "group_members": ("group_id", "id")}
DEFAULT_STREAMS = tuple(name for name in STREAM_NAMES if name not in ("bridges", "removed_projects"))


def keys(records: list[dict], stream: str) -> list[tuple]:
    return [tuple(r[k] for k in KEYS.get(stream, ("id",))) for r in records]


def in_scope(sim, ids) -> set[int]:
    return set(ids) & {p["id"] for p in sim.truth("projects")}


def expected(sim, stream: str) -> list[dict]:
    """What the API lets the token read: children of 403/404 projects are not readable."""
    truth = sim.truth("effective_access" if stream == "project_members_all" else stream)
    unreadable = set(sim.tenant.not_found_ids)
    if stream in ("pipelines", "jobs"):
        unreadable |= set(sim.tenant.ci_disabled_ids)
    return [r for r in truth if r.get("project_id") not in unreadable]


@pytest.fixture(scope="module")
def tenant():
    from dataops_simulator import Simulator

    sim = Simulator(projects=150, seed=5, rate_limit=None, tokens=("sim-token", "glpat-Sim-T0ken-4242")).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def first_run(tenant):
    """One complete run of the tenant, shared by the tests that only read it."""
    tenant.clear_requests()
    run = run_tap(sim_config(tenant))
    assert run.returncode == 0, run.stderr[-3000:]
    return run, list(tenant.requests)


def test_every_stream_exact_with_consistent_foreign_keys(tenant, first_run):
    run, _ = first_run
    for stream in DEFAULT_STREAMS:
        got = keys(run.records(stream), stream)
        assert duplicates(got) == [], stream
        assert sorted(got) == sorted(keys(expected(tenant, stream), stream)), stream

    project_ids = {p["id"] for p in run.records("projects")}
    group_ids = {g["id"] for g in run.records("groups")}
    pipelines = {p["id"]: p for p in run.records("pipelines")}
    assert {m["project_id"] for m in run.records("project_members")} <= project_ids
    assert {m["project_id"] for m in run.records("project_members_all")} <= project_ids
    assert {m["group_id"] for m in run.records("group_members")} <= group_ids
    assert {p["project_id"] for p in pipelines.values()} <= project_ids
    for job in run.records("jobs"):
        assert pipelines[job["pipeline_id"]]["project_id"] == job["project_id"]
        assert job["pipeline"]["id"] == job["pipeline_id"]
    # pipelines carry their detail fields (the list object lacks them)
    finished = [p for p in pipelines.values() if p["status"] in ("success", "failed") and p["started_at"]]
    assert finished and all(p["duration"] is not None and p["user"] for p in finished)
    # the effective access level is GitLab's, not the direct one
    access = {(m["project_id"], m["id"]): m["access_level"] for m in run.records("project_members_all")}
    truth = {(m["project_id"], m["id"]): m["access_level"] for m in expected(tenant, "project_members_all")}
    assert access == truth


def test_full_listings_carry_one_version_and_are_activated_after_their_last_record(first_run):
    """Singer ACTIVATE_VERSION (the loader drops rows without it) follows a complete run only."""
    run, _ = first_run
    messages = run.messages
    activated = {m["stream"]: (i, m["version"]) for i, m in enumerate(messages) if m["type"] == "ACTIVATE_VERSION"}
    assert set(activated) == {"projects", "groups", "namespaces", "project_members", "project_members_all",
                              "group_members", "removed_projects"}
    for stream, (position, version) in activated.items():
        records = [(i, m) for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == stream]
        assert all(m["version"] == version for _, m in records), stream
        assert all(i < position for i, _ in records), f"{stream}: a record after its ACTIVATE_VERSION"
    assert all("version" not in m for m in messages if m["type"] == "RECORD" and m["stream"] == "pipelines")


def test_forbidden_and_missing_children_are_skipped_counted_and_the_run_goes_on(tenant, first_run):
    run, requests = first_run
    not_found = in_scope(tenant, tenant.tenant.not_found_ids)
    ci_disabled = in_scope(tenant, tenant.tenant.ci_disabled_ids)
    assert ci_disabled, "the tenant must have projects with CI/CD disabled"
    if not_found:
        assert f"project_members: skipped {len(not_found)} parent(s): HTTP 404" in run.stderr
    assert f"pipelines: skipped {len(ci_disabled - not_found)} parent(s): CI/CD disabled" in run.stderr
    # CI-disabled projects cost no pipeline request at all
    asked = {int(r.path.split("/")[4]) for r in requests if r.path.endswith("/pipelines")}
    assert not asked & (ci_disabled - not_found)


def test_a_second_run_costs_the_stated_requests_and_one_change_costs_two_more(tenant, first_run):
    """README "What a run costs": a later run over an unchanged tenant lists everything again
    (renames, archives, removals and member changes arrive) and polls every CI project's pipelines."""
    first, _ = first_run
    config = sim_config(tenant)
    state = first.states()[-1]
    tenant.clear_requests()
    second = run_tap(config, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    projects, groups = tenant.truth("projects"), tenant.truth("groups")
    ci_disabled = in_scope(tenant, tenant.tenant.ci_disabled_ids)
    not_found = in_scope(tenant, tenant.tenant.not_found_ids)
    ci_projects = [p for p in projects if p["id"] not in ci_disabled | not_found]
    # (a project whose children answer 404 costs its first pipelines request only)
    stated = (math.ceil(len(projects) / 100) + math.ceil(len(groups) / 100)
              + math.ceil(len(tenant.truth("namespaces")) / 100)
              + 2 * len(projects) + len(groups) + 2 * len(ci_projects) + len(not_found - ci_disabled))

    assert len(tenant.requests) == stated
    assert second.records("pipelines") == [] and second.records("jobs") == []
    assert second.states()[-1] == state, "the state changed on a run that found nothing new"

    changed = ci_projects[7]["id"]
    new_pipeline = tenant.tenant.add_pipeline(changed)
    tenant.clear_requests()
    third = run_tap(config, state=second.states()[-1])
    assert third.returncode == 0, third.stderr[-3000:]
    assert [p["id"] for p in third.records("pipelines")] == [new_pipeline]
    assert len(tenant.requests) == stated + 2  # its detail and its jobs


def test_start_date_bounds_the_first_run_of_pipelines(tenant):
    pipelines = sorted(tenant.truth("pipelines"), key=lambda p: p["updated_at"])
    start = pipelines[len(pipelines) // 2]["updated_at"]
    run = run_tap(sim_config(tenant, start_date=start))
    assert run.returncode == 0, run.stderr[-3000:]
    got = run.records("pipelines")
    assert got and all(p["updated_at"] >= start for p in got)
    readable = {p["id"] for p in expected(tenant, "pipelines") if p["updated_at"] >= start}
    assert {p["id"] for p in got} == readable
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in tenant.truth("projects"))  # all projects


def test_scope_to_a_group_tree_and_a_project(tenant):
    groups = tenant.truth("groups")
    top = next(g for g in groups if g["parent_id"] is None and any(h["parent_id"] == g["id"] for h in groups))
    tree = {top["id"]}
    while True:
        more = {g["id"] for g in groups if g["parent_id"] in tree} - tree
        if not more:
            break
        tree |= more
    outside = next(p for p in tenant.truth("projects") if p["namespace"]["id"] not in tree)
    run = run_tap(sim_config(tenant, groups=[top["full_path"]], projects=[outside["path_with_namespace"]]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert {g["id"] for g in run.records("groups")} == tree
    want = {p["id"] for p in tenant.truth("projects") if p["namespace"]["id"] in tree} | {outside["id"]}
    assert sorted(run.ids("projects")) == sorted(want)
    assert {m["project_id"] for m in run.records("project_members")} <= want


def test_include_archived_false_leaves_archived_projects_out(tenant):
    run = run_tap(sim_config(tenant, include_archived=False))
    assert run.returncode == 0, run.stderr[-3000:]
    archived = {p["id"] for p in tenant.truth("projects") if p["archived"]}
    assert archived and not archived & set(run.ids("projects"))
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in tenant.truth("projects") if not p["archived"])


def test_an_unknown_project_in_scope_is_a_clear_error(tenant):
    run = run_tap(sim_config(tenant, projects=["no-such-group/no-such-project"]))
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr[-2000:]
    assert "the projects setting names 'no-such-group/no-such-project'" in run.error_lines()[0]


def test_each_schema_is_sent_once_per_run(first_run):
    run, _ = first_run
    schemas = Counter(m["stream"] for m in run.messages if m["type"] == "SCHEMA")
    assert schemas == Counter(DEFAULT_STREAMS + ("removed_projects",))
