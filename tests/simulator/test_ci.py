"""Pipelines, jobs and bridges follow GitLab's own rules, checked over HTTP.

The pipeline DETAIL object must be what GitLab computes from the jobs (a tap derives it from the job
listings and compares field by field), so every rule is checked against the jobs the API lists:

- ``duration``: ``Gitlab::Ci::Pipeline::Duration.from_pipeline`` (gitlabhq
  lib/gitlab/ci/pipeline/duration.rb, ``self_and_downstreams_builds_of_pipeline``): the union of the
  running periods of the latest builds of the pipeline and its downstream pipelines (bridges
  excluded), status success/failed/running/canceled, whole seconds; computed when the pipeline last
  became success/failed/canceled (``finished_at``) or manual (``updated_at``), only if ``started_at``
  is set (``Ci::Pipeline#update_duration``, app/models/ci/pipeline.rb);
- ``queued_duration``: ``(started_at - created_at).to_i``, nil when 0 (``Ci::Pipeline#queued_duration``);
- ``coverage``: the mean of the latest statuses' coverage as ``'%.2f'`` (``Ci::Pipeline#coverage``,
  ``Ci::PipelinePresenter#coverage``);
- child pipelines (``source: parent_pipeline``) only with ``source=parent_pipeline``
  (``Ci::PipelinesFinder#prefiltered_pipelines``: ``no_child``); trigger jobs only at ``/bridges``;
- ``/projects/:id/jobs``: builds only, retried and child jobs included, ``id DESC``, no counts
  (lib/api/ci/jobs.rb ``without_count: true``), keyset by id desc;
- ``/pipelines/:id/jobs``: latest only unless ``include_retried`` (``Ci::JobsFinder#pipeline_jobs``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

import pytest
import requests

from dataops_simulator import Simulator

ADMIN = {"private-token": "sim-admin-token"}


def ms(ts: str | None) -> int | None:
    if ts is None:
        return None
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def sim():
    with Simulator.instance(projects=60, other_projects=120, seed=5, anchor=1_700_000_000, rate_limit=None,
                            child_pipelines=0.3, retries=0.2, endpoint_limits=None) as s:
        yield s


@pytest.fixture(scope="module")
def http():
    with requests.Session() as s:
        s.headers.update(ADMIN)
        yield s


def get_all(http, url, **params):
    out, params = [], {"per_page": 100, **params}
    r = http.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        out += r.json()
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            return out
        r = http.get(nxt)


def latest_at(jobs: list[dict], t: int) -> list[dict]:
    """The jobs that were the latest of their name at instant ``t``: a job is marked retried when a newer
    one of the same name is created (``CommitStatus#update_older_statuses_retried!``)."""
    by_name = defaultdict(list)
    for j in jobs:
        if ms(j["created_at"]) <= t:
            by_name[j["name"]].append(j)
    return [max(group, key=lambda j: j["id"]) for group in by_name.values()]


def derived_duration(tree: list[list[dict]], t: int) -> int:
    """Duration.from_periods over the builds of a pipeline tree (each item: one pipeline's builds,
    retried ones included), as GitLab computed it at instant ``t``."""
    periods = []
    for jobs in tree:
        for j in latest_at(jobs, t):
            start, end = ms(j["started_at"]), ms(j["finished_at"])
            if start is None or start > t:
                continue
            if end is None or end > t:  # still running at t
                end = t
            elif j["status"] not in ("success", "failed", "canceled"):
                continue
            periods.append((start, end))
    total, cur = 0, None
    for first, last in sorted(periods):
        if cur and first <= cur[1]:
            cur[1] = max(cur[1], last)
        else:
            total += (cur[1] - cur[0]) if cur else 0
            cur = [first, last]
    total += (cur[1] - cur[0]) if cur else 0
    return total // 1000


def fetch_tree(http, base, pid) -> tuple[list[list[dict]], list[dict]]:
    """The builds of pipeline ``pid`` and of its downstream pipelines, and its bridges."""
    builds = get_all(http, f"{base}/pipelines/{pid}/jobs", include_retried="true")
    bridges = get_all(http, f"{base}/pipelines/{pid}/bridges")
    tree = [builds]
    for b in bridges:
        if b["downstream_pipeline"]:
            sub, _ = fetch_tree(http, base, b["downstream_pipeline"]["id"])
            tree += sub
    return tree, bridges


def check_detail(http, base, detail: dict) -> None:
    tree, bridges = fetch_tree(http, base, detail["id"])
    own = tree[0]
    latest = list(get_all(http, f"{base}/pipelines/{detail['id']}/jobs"))
    assert sorted(j["id"] for j in latest) == sorted(j["id"] for j in latest_at(own, 10**15))
    created, started, finished = ms(detail["created_at"]), ms(detail["started_at"]), ms(detail["finished_at"])
    status = detail["status"]
    # queued_duration: (started_at - created_at).to_i, nil when zero or never started
    if started is None:
        assert detail["queued_duration"] is None and detail["duration"] is None
    else:
        expected = (started - created) // 1000
        assert detail["queued_duration"] == (expected or None)
    # duration: computed at the last transition to success/failed/canceled (finished_at) or manual
    if started is not None:
        if status == "manual":
            assert detail["duration"] == derived_duration(tree, ms(detail["updated_at"]))
        elif finished is not None:
            assert detail["duration"] == derived_duration(tree, finished), detail["id"]
        else:  # running for the first time: never computed
            assert detail["duration"] is None
    # finished_at: set on success/failed/canceled, never for skipped/manual (nor cleared by a re-run)
    if status in ("success", "failed", "canceled"):
        assert finished is not None
    if status in ("skipped", "created", "pending") or (status == "manual" and not own):
        assert finished is None
    # coverage: mean of the latest statuses' coverage, '%.2f'
    values = [j["coverage"] for j in latest + list(bridges) if j["coverage"] is not None]
    assert detail["coverage"] == ("%.2f" % (math.fsum(values) / len(values)) if values else None)
    # tag and ref are the pipeline's, on every job
    assert all(j["tag"] == detail["tag"] and j["ref"] == detail["ref"] for j in own)
    assert all(j["pipeline"]["id"] == detail["id"] and "name" not in j["pipeline"] for j in own)
    # bridges are never listed as jobs
    assert not {b["id"] for b in bridges} & {j["id"] for j in own}


_CASES: dict[int, dict] = {}


def categorised(sim) -> dict[str, list[dict]]:
    """Pipelines of the instance by the case they exercise (from the truth, which the API serves)."""
    if id(sim) not in _CASES:
        _CASES[id(sim)] = _categorise(sim)
    return _CASES[id(sim)]


def _categorise(sim) -> dict[str, list[dict]]:
    details = sim.truth("pipelines", token="admin", scope="instance")
    bridges = sim.truth("bridges", token="admin", scope="instance")
    jobs = sim.truth("jobs", token="admin", scope="instance")
    parents = {b["pipeline_id"] for b in bridges}
    retried = {j["pipeline_id"] for j in jobs if any(k["pipeline_id"] == j["pipeline_id"] and k["name"] == j["name"]
                                                     and k["id"] > j["id"] for k in jobs)}
    with_jobs = {j["pipeline_id"] for j in jobs}
    cases: dict[str, list[dict]] = defaultdict(list)
    for d in details:
        cases[d["status"]].append(d)
        if d["source"] == "parent_pipeline":
            cases["child"].append(d)
        if d["id"] in parents:
            cases["parent"].append(d)
        if d["id"] in retried:
            cases["retried"].append(d)
        if d["id"] not in with_jobs and d["id"] not in parents:
            cases["no_jobs"].append(d)
        if d["status"] == "running" and d["finished_at"] is not None:
            cases["rerun"].append(d)
        if d["started_at"] is not None and d["queued_duration"] is None:
            cases["started_within_a_second"].append(d)
    return cases


def test_every_case_is_present(sim):
    """The instance has every kind of pipeline the detail rules must hold for."""
    cases = categorised(sim)
    for case in ("success", "failed", "canceled", "skipped", "manual", "running", "child", "parent", "retried",
                 "no_jobs", "started_within_a_second"):
        assert cases[case], case


def test_pipeline_detail_is_derived_from_its_jobs_by_gitlabs_rules(sim, http):
    """duration, queued_duration, finished_at and coverage of the detail agree with the jobs the API
    lists, for pipelines of every case (see the module docstring for the GitLab sources)."""
    cases = categorised(sim)
    picked = {}
    for _case, rows in sorted(cases.items()):
        for d in rows[:4]:
            picked[d["id"]] = d
    for d in picked.values():
        base = f"{sim.url}/projects/{d['project_id']}"
        detail = http.get(f"{base}/pipelines/{d['id']}").json()
        assert detail == d
        check_detail(http, base, detail)


def test_every_pipeline_follows_the_rules_in_the_truth(sim):
    """The same rules over every pipeline of the instance (records as the API serves them)."""
    details = {d["id"]: d for d in sim.truth("pipelines", token="admin", scope="instance")}
    jobs: dict[int, list[dict]] = defaultdict(list)
    for j in sim.truth("jobs", token="admin", scope="instance"):
        jobs[j["pipeline_id"]].append(j)
    children: dict[int, list[int]] = defaultdict(list)
    for b in sim.truth("bridges", token="admin", scope="instance"):
        if b["downstream_pipeline"]:
            children[b["pipeline_id"]].append(b["downstream_pipeline"]["id"])

    def tree(pid):
        out = [jobs[pid]]
        for c in children[pid]:
            out += tree(c)
        return out

    checked = 0
    for d in details.values():
        started, finished = ms(d["started_at"]), ms(d["finished_at"])
        if started is None:
            assert d["duration"] is None and d["queued_duration"] is None
            continue
        assert d["queued_duration"] == ((started - ms(d["created_at"])) // 1000 or None)
        if d["status"] == "manual":
            assert d["duration"] == derived_duration(tree(d["id"]), ms(d["updated_at"]))
        elif finished is not None:
            assert d["duration"] == derived_duration(tree(d["id"]), finished), d["id"]
        checked += 1
    assert checked > 300


def test_pipeline_states_without_runs(sim):
    """Never-started pipelines: no duration; skipped ones have no finished_at; a config error fails at
    once without jobs (``Chain::Helpers#error`` -> ``drop!``) and carries ``yaml_errors``."""
    cases = categorised(sim)
    for d in cases["skipped"]:
        assert d["started_at"] is None and d["finished_at"] is None and d["duration"] is None
    for d in cases["no_jobs"]:
        assert d["status"] == "failed" and d["yaml_errors"] and d["started_at"] is None
        assert d["finished_at"] is not None and d["duration"] is None and d["coverage"] is None
    for d in cases["canceled"]:
        assert d["finished_at"] is not None
    for d in cases["running"]:
        assert d["started_at"] is not None
    for d in cases["rerun"]:  # re-run after a retry: the duration of the last completion stays
        assert d["duration"] is not None


def test_child_pipelines_listed_only_when_asked(sim, http):
    """``GET /projects/:id/pipelines`` leaves child pipelines out unless ``source=parent_pipeline``
    (``PipelinesFinder#prefiltered_pipelines``, ``no_child``); the list object is PipelineBasic plus
    ``name`` (``PipelineBasicWithMetadata``)."""
    child = categorised(sim)["child"][0]
    base = f"{sim.url}/projects/{child['project_id']}"
    listed = get_all(http, f"{base}/pipelines")
    assert child["id"] not in {p["id"] for p in listed}
    assert all(p["source"] != "parent_pipeline" for p in listed)
    children = get_all(http, f"{base}/pipelines", source="parent_pipeline")
    assert child["id"] in {p["id"] for p in children} and all(p["source"] == "parent_pipeline" for p in children)
    assert set(children[0]) == {"id", "iid", "project_id", "sha", "ref", "status", "source", "created_at",
                                "updated_at", "web_url", "name"}
    assert http.get(f"{base}/pipelines", params={"source": "nonsense"}).status_code == 400


def test_bridges_carry_their_downstream_pipeline(sim, http):
    """Trigger jobs are listed at ``/pipelines/:id/bridges`` (``API::Entities::Ci::Bridge``: JobBasic
    plus ``downstream_pipeline``, a PipelineBasic), never at ``/jobs``; the child runs in the same project."""
    parent = categorised(sim)["parent"][0]
    base = f"{sim.url}/projects/{parent['project_id']}"
    bridges = get_all(http, f"{base}/pipelines/{parent['id']}/bridges")
    assert bridges and all("downstream_pipeline" in b and "runner" not in b for b in bridges)
    down = next(b["downstream_pipeline"] for b in bridges if b["downstream_pipeline"])
    assert set(down) == {"id", "iid", "project_id", "sha", "ref", "status", "source", "created_at", "updated_at",
                         "web_url"} and down["source"] == "parent_pipeline"
    project_jobs = {j["id"] for j in get_all(http, f"{base}/jobs")}
    assert not project_jobs & {b["id"] for b in bridges}
    child_jobs = get_all(http, f"{base}/pipelines/{down['id']}/jobs", include_retried="true")
    assert {j["id"] for j in child_jobs} <= project_jobs


def test_project_jobs_listing(sim, http):
    """``GET /projects/:id/jobs``: builds of every pipeline (retried ones included), newest id first,
    offset pages without ``X-Total`` (``without_count``), or keyset by id desc (``pagination=keyset``)."""
    retried = categorised(sim)["retried"][0]
    base = f"{sim.url}/projects/{retried['project_id']}"
    r = http.get(f"{base}/jobs", params={"per_page": 5})
    assert "X-Total" not in r.headers and "X-Total-Pages" not in r.headers and "last" not in r.links
    jobs = get_all(http, f"{base}/jobs")
    ids = [j["id"] for j in jobs]
    assert ids == sorted(ids, reverse=True)
    with_retried = get_all(http, f"{base}/pipelines/{retried['id']}/jobs", include_retried="true")
    latest = get_all(http, f"{base}/pipelines/{retried['id']}/jobs")
    assert len(with_retried) > len(latest) and {j["id"] for j in with_retried} <= set(ids)
    assert [j["id"] for j in latest] == sorted((j["id"] for j in latest), reverse=True)
    keyset, r = [], http.get(f"{base}/jobs", params={"pagination": "keyset", "per_page": 7})
    while True:
        keyset += r.json()
        if "next" not in r.links:
            break
        r = http.get(r.links["next"]["url"])
    assert [j["id"] for j in keyset] == ids
    assert http.get(f"{base}/jobs", params={"pagination": "keyset", "sort": "asc"}).status_code == 405


def test_job_shapes(sim, http):
    """``API::Entities::Ci::Job``: ``failure_reason`` only when failed (``if: job.failed?``),
    ``artifacts_file`` only with artifacts, the embedded pipeline is a PipelineBasic."""
    jobs = sim.truth("jobs", token="admin", scope="instance")
    failed = next(j for j in jobs if j["status"] == "failed")
    ok = next(j for j in jobs if j["status"] == "success")
    assert failed["failure_reason"] and "failure_reason" not in ok
    assert any("artifacts_file" not in j for j in jobs) and any("artifacts_file" in j for j in jobs)
    served = http.get(f"{sim.url}/projects/{failed['project_id']}/jobs/{failed['id']}").json()
    assert served == {k: v for k, v in failed.items() if k not in ("project_id", "pipeline_id")}


def test_retry_creates_a_new_job_and_reruns_the_pipeline(http):
    """``Ci::RetryJobService``: the retry is a new job (a higher id, same name), the old one is marked
    retried (hidden without ``include_retried``), the pipeline goes back to running with a new
    ``updated_at``; ``started_at`` stays (``||=``), and a pipeline retry moves no ``last_activity_at``."""
    with Simulator.instance(projects=30, other_projects=40, seed=9, rate_limit=None, endpoint_limits=None) as s:
        jobs = s.truth("jobs", token="admin", scope="instance")
        details = {d["id"]: d for d in s.truth("pipelines", token="admin", scope="instance")}
        newest = {}
        for j in jobs:
            key = (j["pipeline_id"], j["name"])
            newest[key] = max(newest.get(key, 0), j["id"])
        job = next(j for j in jobs if j["status"] == "failed" and details[j["pipeline_id"]]["status"] == "failed"
                   and newest[(j["pipeline_id"], j["name"])] == j["id"]
                   and details[j["pipeline_id"]]["source"] != "parent_pipeline")
        base = f"{s.url}/projects/{job['project_id']}"
        before = http.get(f"{base}/pipelines/{job['pipeline_id']}").json()
        project_before = http.get(base).json()
        new_id = s.tenant.retry_job(job["id"], t=s.tenant.clock_ms + 1000)  # retried just after the clock
        after = http.get(f"{base}/pipelines/{job['pipeline_id']}").json()
        assert new_id > max(j["id"] for j in jobs if j["project_id"] == job["project_id"])
        assert after["status"] == "running" and after["updated_at"] > before["updated_at"]
        assert after["started_at"] == before["started_at"] and after["duration"] == before["duration"]
        latest = {j["id"]: j for j in get_all(http, f"{base}/pipelines/{job['pipeline_id']}/jobs")}
        assert new_id in latest and job["id"] not in latest and latest[new_id]["name"] == job["name"]
        assert http.get(base).json()["last_activity_at"] == project_before["last_activity_at"]


def test_pipeline_time_filters(sim, http):
    """``updated_after``/``updated_before`` are inclusive on pipelines (``UpdatedAtFilterable``: ``gteq``/
    ``lteq``, via ``UpdatedAtFilter#by_updated_at``) and need no ``order_by``; ``created_after``/
    ``created_before`` are strict (``Ci::Pipeline`` scopes ``gt``/``lt``)."""
    pipes = [p for p in sim.truth("pipelines", token="admin", scope="instance") if p["source"] != "parent_pipeline"]
    project_id = max({p["project_id"] for p in pipes}, key=lambda i: sum(p["project_id"] == i for p in pipes))
    mine = sorted((p for p in pipes if p["project_id"] == project_id), key=lambda p: p["updated_at"])
    cut = mine[len(mine) // 2]
    base = f"{sim.url}/projects/{project_id}/pipelines"
    after = {p["id"] for p in get_all(http, base, updated_after=cut["updated_at"])}
    assert cut["id"] in after and after == {p["id"] for p in mine if p["updated_at"] >= cut["updated_at"]}
    before = {p["id"] for p in get_all(http, base, updated_before=cut["updated_at"])}
    assert cut["id"] in before
    created = {p["id"] for p in get_all(http, base, created_after=cut["created_at"])}
    assert cut["id"] not in created and created == {p["id"] for p in mine if p["created_at"] > cut["created_at"]}
