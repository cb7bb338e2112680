"""Right on a real account: the customer's own tenant on a shared instance, an ordinary token,
and every change of a day landing in the next run.

``tap-dataops | target-dataops-duckdb`` into a real DuckDB file, against
``Simulator.instance()``: several customers and the vendor's reference projects on one GitLab,
read with the token of an ordinary Acme engineer ("user"). What GitLab does there is in
dataops_simulator (each behaviour cites its GitLab source) and /work/shared/GITLAB-FACTS.md:

1. scope: ``GET /projects`` without ``membership=true`` lists every public and internal project
   of the instance (``ProjectsFinder``, doc/api/projects.md); the tap asks for membership;
2. ``last_activity_at`` moves only on events (``Event#reset_project_activity``): scheduled
   pipelines, retries and pipelines finishing must be found by polling every project's pipelines;
   renames, archives and transfers move ``updated_at`` only; deletions must leave the tables;
4. ``/members`` is direct only; ``/members/all`` holds inherited and invited members
   (doc/api/members.md, ``MembersFinder``);
5. statistics only where the user is Reporter or above (``API::Entities::ProjectWithAccess``);
6. the per-user 429 is plain text with its headers only on the 429 (lib/gitlab/rack_attack.rb);
7. child pipelines are left out of ``/projects/:id/pipelines`` unless asked for
   (``PipelinesFinder``); a renamed project's old path answers 301 (doc/api/rest/_index.md).
(3, the CI job token, is refused at startup: tests/tap/test_config_and_cli.py.)
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import requests

from dataops_simulator import Simulator
from tests.pipeline.harness import STREAMS, Pipeline, assert_database_equals, expected_all, key_of, rows
from tests.tap.helpers import catalog_for, run_tap

USER = "sim-user-token"  # an ordinary Acme engineer
BOT = "sim-group-bot-token"  # a group access token of Acme's top-level group: a bot user
TOKENS = {"user": USER, "group_bot": BOT}
SEED = 6  # a day of this tenant has every kind of change within the bot's scope (asserted below)
PATH_FIELDS = {"web_url", "detailed_status", "pipeline", "commit"}
CHANGES = (
"pipelines_created", "pipelines_finished", "jobs_retried", "archived", "renamed", "transferred",
           "deleted_projects", "members_added", "members_removed", "access_changed", "projects_created")


def user_config(sim, **overrides) -> dict:
    return {"api_url": sim.url, "private_token": USER, "requests_per_minute": 60_000, **overrides}


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """One shared instance, landed once for each token by its default run; then the instance
    advances by a day and each lands again from its loader's state. The tests read the runs."""
    sim = Simulator.instance(projects=50, other_projects=100, seed=SEED, rate_limit=None).start()
    runs: dict[str, dict] = {}
    for kind, token in TOKENS.items():
        pipeline = Pipeline(sim, tmp_path_factory.mktemp(kind), tap={"private_token": token})
        truth = expected_all(sim, token=kind)
        sim.clear_requests()
        first = pipeline.run()
        assert first.ok, first.describe()
        runs[kind] = {"pipeline": pipeline, "first": first, "truth_before": truth, "requests_before": sim.requests,
                      "database_before": {stream: rows(pipeline.database, stream) for stream in STREAMS}}
    changes = sim.advance_day()
    for kind, token in TOKENS.items():
        run = runs[kind]
        run["namespaces_listed"] = _namespaces_listed(sim, token)
        sim.clear_requests()
        run["second"] = run["pipeline"].run()
        assert run["second"].ok, run["second"].describe()
        run["requests"] = sim.requests
    yield {"sim": sim, "changes": changes, **runs}
    sim.stop()


def _namespaces_listed(sim, token: str) -> list[dict]:
    """What GET /namespaces lists for the token (the README's N), read as its user would."""
    found, page = [], 1
    while page:
        answer = requests.get(f"{sim.url}/namespaces", params={"per_page": 100, "page": page},
                              headers={"PRIVATE-TOKEN": token}, timeout=30)
        found += answer.json()
        page = int(answer.headers.get("X-Next-Page") or 0)
    return found


@pytest.mark.parametrize("kind", list(TOKENS))
def test_a_default_run_lands_exactly_the_customers_tenant_and_nothing_foreign(account, kind):
    sim, run = account["sim"], account[kind]
    for stream in STREAMS:
        got = {key_of(r, stream) for r in run["database_before"][stream]}
        want = {key_of(r, stream) for r in run["truth_before"][stream]}
        assert got == want, f"{stream}: {len(got - want)} foreign, {len(want - got)} missing"
    visible = {p["id"] for p in sim.truth("projects", token=kind, scope="instance")}
    mine = {p["id"] for p in run["truth_before"]["projects"]}
    assert len(visible - mine) > 20, "the instance shows the token other customers' and the vendor's projects"
    assert not {r["id"] for r in run["database_before"]["projects"]} & (visible - mine)
    asked = [r for r in run["requests_before"] if r.path == "/api/v4/projects"]
    assert asked and all(r.query.get("membership") == "true" for r in asked)
    assert "scope membership" in run["first"].tap_stderr


@pytest.mark.parametrize("kind", list(TOKENS))
def test_after_a_day_every_stream_equals_the_new_truth(account, kind):
    """Deletions, renames, archives, transfers, member removals and level changes, scheduled
    pipelines on idle projects and running pipelines that finished: all of them land."""
    sim, changes, run = account["sim"], account["changes"], account[kind]
    before = run["truth_before"]
    mine = {p["id"] for p in before["projects"]}
    if kind == "group_bot":  # the whole of Acme: every kind of change of the day is in its scope
        in_scope = {"archived": changes["archived"], "renamed": [c[0] for c in changes["renamed"]],
                    "transferred": [c[0] for c in changes["transferred"]], "deleted": changes["deleted_projects"]}
        assert all(set(ids) & mine for ids in in_scope.values()), in_scope
        assert all(changes[kind_of_change] for kind_of_change in CHANGES)
    idle = set(changes["last_activity_moved"])
    scheduled = [p for p in sim.truth("pipelines", token=kind)
                 if p["id"] in set(changes["pipelines_created"]) and p["project_id"] not in idle]
    assert scheduled, "pipelines on projects whose last_activity_at did not move"

    want = expected_all(sim, token=kind)
    gone = mine - {p["id"] for p in want["projects"]}
    assert set(changes["deleted_projects"]) & mine <= gone
    # The history of projects that left the scope stays, and removed_projects says so.
    for stream in ("pipelines", "jobs"):
        want[stream] = [*want[stream], *(r for r in before[stream] if r["project_id"] in gone)]
    want["removed_projects"] = [{"id": project_id} for project_id in sorted(gone)]
    assert gone
    # A pipeline's or job's URLs (web_url, detailed_status.details_path, the job's pipeline and
    # commit objects) are made from its project's path when the API answers; a rename or transfer
    # does not touch the pipeline (its updated_at stays), so the row keeps the path it was read
    # with (README: join projects for the current one).
    moved = {c[0] for c in changes["renamed"] + changes["transferred"]} | {
        p["id"] for p in before["projects"] if p["path_with_namespace"] not in
        {q["path_with_namespace"] for q in want["projects"]}}
    for stream in ("pipelines", "jobs"):
        want[stream] = [{k: v for k, v in r.items() if k not in PATH_FIELDS} if r["project_id"] in moved else r
                        for r in want[stream]]
    database = run["pipeline"].database
    assert_database_equals(database, want)

    landed = {p["id"]: p for p in rows(database, "projects")}
    for project_id, _old, new_path in changes["renamed"] + changes["transferred"]:
        if project_id in landed:
            assert landed[project_id]["path_with_namespace"] == new_path
    for project_id in changes["archived"]:
        if project_id in landed:
            assert landed[project_id]["archived"] is True
    pipelines = {p["id"]: p for p in rows(database, "pipelines")}
    for pipeline_id in changes["pipelines_finished"]:
        if pipeline_id in pipelines:
            assert pipelines[pipeline_id]["status"] not in ("running", "pending", "created")


@pytest.mark.parametrize("kind", list(TOKENS))
def test_the_second_runs_requests_are_the_documented_formula(account, kind):
    """README, "What a run costs": ceil(P/100) + ceil(G/100) + ceil(N/100) + M + 2P + G
    + 2C - F + 2U, with P projects, G groups, N namespaces GET /namespaces lists for the token,
    M groups in scope it does not list, C projects with CI enabled for the token, F of them
    refusing their pipelines (403), U new or updated pipelines."""
    sim, run = account["sim"], account[kind]
    projects = sim.truth("projects", token=kind)
    groups = sim.truth("groups", token=kind)
    listed = {n["id"] for n in run["namespaces_listed"]}
    in_scope_groups = {g["id"] for g in groups}
    ci = [p for p in projects if p.get("jobs_enabled") and p.get("builds_access_level") != "disabled"]
    forbidden = sum(int(line.split("skipped ")[1].split()[0]) for line in run["second"].tap_stderr.splitlines()
                    if "pipelines: skipped" in line and "HTTP 403" in line)
    served = run["requests"]
    # U from the pipelines' detail requests (one each); at least every pipeline created that day
    updated = sum(1 for r in served if r.path.count("/pipelines/") == 1 and r.path.rsplit("/", 1)[-1].isdigit())
    created = set(account["changes"]["pipelines_created"]) & {p["id"] for p in sim.truth("pipelines", token=kind)}
    stated = (math.ceil(len(projects) / 100) + math.ceil(len(groups) / 100) + math.ceil(len(listed) / 100)
              + len(in_scope_groups - listed) + 2 * len(projects) + len(groups) + 2 * len(ci) - forbidden
              + 2 * updated)
    assert [r for r in served if r.status == 429] == []
    assert created and updated >= len(created)
    assert len(served) == stated, Counter(r.path.split("/")[3] for r in served)


def test_effective_access_is_what_members_all_answers(account):
    """project_members_all equals GET /projects/:id/members/all per project: direct members,
    members inherited from ancestor groups and members of invited groups (some of each)."""
    sim = account["sim"]
    database = account["user"]["pipeline"].database
    truth = sim.truth("effective_access", token="user")
    assert {r["source"] for r in truth} == {"direct", "inherited", "shared"}
    landed = {key_of(r, "project_members_all"): r["access_level"]
              for r in rows(database, "project_members_all")}
    assert landed == {(r["project_id"], r["id"]): r["access_level"] for r in truth}
    direct = rows(database, "project_members")
    assert len(direct) < len(landed), "inherited access is most of who has access"
    assert all(r.get("email") is None for r in direct), "GitLab hides emails from non-admins"


def test_statistics_are_null_only_where_the_user_may_not_read_them_and_that_is_said_once(account):
    run = account["user"]
    projects = run["truth_before"]["projects"]
    hidden = {p["id"] for p in projects if not p.get("statistics")}
    assert hidden and len(hidden) < len(projects)
    landed = {r["id"]: r["statistics"] for r in run["database_before"]["projects"]}
    assert {i for i, s in landed.items() if s is None} == hidden
    line = f"projects: {len(hidden)} of {len(projects)} projects have no statistics"
    assert run["first"].tap_stderr.count(line) == 1


def test_child_pipelines_land_and_bridges_when_selected(account):
    sim = account["sim"]
    children = [p for p in sim.truth("pipelines", token="user") if p["source"] == "parent_pipeline"]
    assert children
    landed = {r["id"] for r in rows(account["user"]["pipeline"].database, "pipelines")}
    assert {p["id"] for p in children} <= landed
    config = user_config(sim)
    run = run_tap(config, catalog=catalog_for(["projects", "pipelines", "bridges"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("bridges")) == sorted(b["id"] for b in sim.truth("bridges", token="user"))
    downstream = {b["downstream_pipeline"]["id"] for b in run.records("bridges") if b["downstream_pipeline"]}
    assert {p["id"] for p in children} <= downstream


def test_a_renamed_projects_old_path_is_followed(account):
    """The old path answers 301 with the project's id in Location (url_with_project_id)."""
    sim = account["sim"]
    project_id, old_path, _new = account["changes"]["renamed"][0]  # in the group bot's scope
    config = user_config(sim, projects=[old_path], private_token=BOT)
    run = run_tap(config, catalog=catalog_for(["projects"], config))

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.ids("projects") == [project_id]
    assert any(r.status == 301 for r in sim.requests)


def test_access_tokens_read_like_their_bot_user_and_an_administrator_can_read_the_instance(account):
    """Project and group access tokens are bot users (doc/user/project/settings/
    project_access_tokens.md): their own membership. The instance scope, for an administrator."""
    sim = account["sim"]
    for token, kind, scope in (("sim-project-bot-token", "project_bot", "membership"),
                               ("sim-group-bot-token", "group_bot", "membership"),
                               ("sim-admin-token", "admin", "instance")):
        config = {**user_config(sim, scope=scope), "private_token": token}
        run = run_tap(config, catalog=catalog_for(["projects", "groups"], config))
        assert run.returncode == 0, run.stderr[-2000:]
        for stream in ("projects", "groups"):
            assert sorted(run.ids(stream)) == sorted(r["id"] for r in sim.truth(stream, token=kind, scope=scope)), (
                kind, stream)


def test_the_per_user_limits_plain_text_429_is_waited_out(tmp_path):
    """Rack::Attack's 429 is ``Retry later`` in plain text, with RateLimit-* and Retry-After
    (seconds left in the window) on the 429 only; the run lands exactly all the same."""
    sim = Simulator.instance(projects=20, other_projects=20, seed=3, rate_limit=15, rate_window=2.0).start()
    try:
        pipeline = Pipeline(sim, tmp_path, tap={"private_token": USER})
        run = pipeline.run()
        assert run.ok, run.describe()
        limited = [r for r in sim.requests if r.status == 429]
        assert limited, "the server must have throttled the run"
        assert_database_equals(pipeline.database, expected_all(sim, token="user"))
    finally:
        sim.stop()
