"""The whole platform inventory: every stream exact, foreign keys, skips, incremental runs."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.tap.helpers import duplicates, run_tap, sim_config

STREAMS = ("projects", "namespaces", "groups", "project_members", "group_members", "pipelines", "jobs")
KEYS = {
    "projects": ("id",), "namespaces": ("id",), "groups": ("id",), "pipelines": ("id",), "jobs": ("id",),
    "project_members": ("project_id", "id"), "group_members": ("group_id", "id"),
}


def keys(records: list[dict], stream: str) -> list[tuple]:
    return [tuple(r[k] for k in KEYS[stream]) for r in records]


def expected(sim, stream: str) -> list[dict]:
    """What the API lets the token read: children of 403/404 projects are not readable."""
    unreadable = set(sim.tenant.not_found_ids)
    if stream in ("pipelines", "jobs"):
        unreadable |= set(sim.tenant.ci_disabled_ids)
    return [r for r in sim.truth(stream) if r.get("project_id") not in unreadable]


@pytest.fixture
def tenant(simulator):
    return simulator(projects=150, seed=5, rate_limit=None)


def test_every_stream_exact_with_consistent_foreign_keys(tenant):
    sim = tenant
    run = run_tap(sim_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAMS:
        got = keys(run.records(stream), stream)
        assert duplicates(got) == [], stream
        assert sorted(got) == sorted(keys(expected(sim, stream), stream)), stream

    project_ids = {p["id"] for p in run.records("projects")}
    group_ids = {g["id"] for g in run.records("groups")}
    pipelines = {p["id"]: p for p in run.records("pipelines")}
    assert {m["project_id"] for m in run.records("project_members")} <= project_ids
    assert {m["group_id"] for m in run.records("group_members")} <= group_ids
    assert {p["project_id"] for p in pipelines.values()} <= project_ids
    for job in run.records("jobs"):
        assert pipelines[job["pipeline_id"]]["project_id"] == job["project_id"]
        assert job["pipeline"]["id"] == job["pipeline_id"]
    # pipelines carry their detail fields (the list object lacks them)
    finished = [p for p in pipelines.values() if p["status"] in ("success", "failed")]
    assert finished and all(p["duration"] is not None and p["user"] for p in finished)


def test_forbidden_and_missing_children_are_skipped_counted_and_the_run_goes_on(tenant):
    sim = tenant
    not_found, ci_disabled = set(sim.tenant.not_found_ids), set(sim.tenant.ci_disabled_ids)
    assert not_found and ci_disabled, "the tenant must have both kinds of projects"
    run = run_tap(sim_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"project_members: skipped {len(not_found)} parent(s): HTTP 404" in run.stderr
    assert f"pipelines: skipped {len(ci_disabled - not_found)} parent(s): CI/CD disabled" in run.stderr
    # CI-disabled projects cost no pipeline request at all
    asked = {int(r.path.split("/")[4]) for r in sim.requests if r.path.endswith("/pipelines")}
    assert not asked & (ci_disabled - not_found)
    one_warning_each = [line for line in run.stderr.splitlines() if "skipping project_id" in line]
    assert len(one_warning_each) == len(not_found) * 2  # members and pipelines, one line each


def test_second_run_costs_a_small_stated_number_of_requests_and_one_change_costs_only_its_project(tenant):
    sim = tenant
    config = sim_config(sim)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    state = first.states()[-1]

    sim.clear_requests()
    second = run_tap(config, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    groups, namespaces = len(sim.truth("groups")), len(sim.truth("namespaces"))
    # the README states it: groups pages + one members request per group + namespaces pages + 1
    stated = math.ceil(groups / 100) + groups + math.ceil(namespaces / 100) + 1
    assert len(sim.requests) == stated
    assert second.records("projects") == [] and second.records("pipelines") == []
    state2 = second.states()[-1]
    assert state2 == state, "state changed on a run that found nothing new"

    changed = sorted(set(p["id"] for p in sim.truth("projects")) - sim.tenant.ci_disabled_ids - sim.tenant.not_found_ids)[7]
    new_pipeline = sim.tenant.add_pipeline(changed)
    sim.clear_requests()
    third = run_tap(config, state=state2)
    assert third.returncode == 0, third.stderr[-3000:]
    assert [p["id"] for p in third.records("projects")] == [changed]
    assert new_pipeline in [p["id"] for p in third.records("pipelines")]
    project_paths = [r.path for r in sim.requests if r.path.startswith("/api/v4/projects/")]
    assert project_paths and all(p.startswith(f"/api/v4/projects/{changed}/") for p in project_paths)
    pipelines_synced = len(third.records("pipelines"))
    # members 1 + pipelines list 1 + (detail + jobs) per new or updated pipeline
    assert len(project_paths) == 2 + 2 * pipelines_synced
    state3 = third.states()[-1]
    assert set(state3["bookmarks"]) == set(state2["bookmarks"])
    assert state3["bookmarks"]["projects"]["replication_key_value"] > state2["bookmarks"]["projects"]["replication_key_value"]


def test_start_date_bounds_the_first_run(tenant):
    sim = tenant
    projects = sorted(sim.truth("projects"), key=lambda p: p["last_activity_at"])
    start = projects[len(projects) // 2]["last_activity_at"]
    run = run_tap(sim_config(sim, start_date=start))
    assert run.returncode == 0, run.stderr[-3000:]
    got = run.records("projects")
    assert got and all(p["last_activity_at"] >= start for p in got)
    assert {p["id"] for p in got} >= {p["id"] for p in projects if p["last_activity_at"] > start}
    assert all(p["updated_at"] >= start for p in run.records("pipelines"))


def test_scope_to_a_group_tree_and_a_project(tenant):
    sim = tenant
    groups = sim.truth("groups")
    top = next(g for g in groups if g["parent_id"] is None and any(h["parent_id"] == g["id"] for h in groups))
    tree = {top["id"]}
    while True:
        more = {g["id"] for g in groups if g["parent_id"] in tree} - tree
        if not more:
            break
        tree |= more
    outside = next(p for p in sim.truth("projects") if p["namespace"]["id"] not in tree)
    run = run_tap(sim_config(sim, groups=[top["full_path"]], projects=[outside["path_with_namespace"]]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert {g["id"] for g in run.records("groups")} == tree
    want = {p["id"] for p in sim.truth("projects") if p["namespace"]["id"] in tree} | {outside["id"]}
    assert sorted(run.ids("projects")) == sorted(want)
    assert {m["project_id"] for m in run.records("project_members")} <= want


def test_include_archived_false_leaves_archived_projects_out(tenant):
    sim = tenant
    run = run_tap(sim_config(sim, include_archived=False))
    assert run.returncode == 0, run.stderr[-3000:]
    archived = {p["id"] for p in sim.truth("projects") if p["archived"]}
    assert archived and not archived & set(run.ids("projects"))
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects") if not p["archived"])


def test_an_unknown_project_in_scope_is_a_clear_error(tenant):
    run = run_tap(sim_config(tenant, projects=["no-such-group/no-such-project"]))
    assert run.returncode != 0
    assert len(run.error_lines()) == 1, run.stderr[-2000:]
    assert "the projects setting names 'no-such-group/no-such-project'" in run.error_lines()[0]


def test_state_shape_is_stable_across_runs(tenant):
    config = sim_config(tenant)
    first = run_tap(config)
    second = run_tap(config, state=first.states()[-1])

    def shape(state: dict) -> dict:
        return {
            stream: sorted(k for k in value if k != "partitions") + [len(value.get("partitions", []))]
            for stream, value in state["bookmarks"].items()
        }

    assert shape(first.states()[-1]) == shape(second.states()[-1])
    schemas = Counter(m["stream"] for m in first.messages if m["type"] == "SCHEMA")
    assert schemas == Counter(STREAMS), "each stream's SCHEMA is sent once per run"
