"""The DataOps.live simulator over real HTTP: auth, pagination, rate limits, faults, data, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from dataops_simulator import FAULT_KINDS, Simulator, Tenant

TOKEN = "sim-token"
H = {"private-token": TOKEN}


@pytest.fixture(scope="module")
def sim():
    with Simulator(projects=60, seed=7, rate_limit=None) as s:
        yield s


@pytest.fixture
def session():
    with requests.Session() as s:
        s.headers.update(H)
        yield s


def walk(session, url, **params):
    """Follow rel="next" links; returns (records, responses)."""
    records, responses = [], []
    r = session.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        responses.append(r)
        records += r.json()
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            return records, responses
        r = session.get(nxt)


def by_id(rows):
    return sorted(rows, key=lambda r: (r.get("project_id", 0), r.get("group_id", 0), r["id"]))


# --- auth -------------------------------------------------------------------------------------


def test_auth_required_and_token_kinds(sim):
    """An unknown private token is 401 (``find_user_from_access_token``); no token is an anonymous
    request, which ``GET /projects`` answers with public projects (``ProjectsFinder#collection_without_user``,
    ``BasicProjectDetails``); a job token off its routes is ignored, so the request is anonymous too
    (``find_user_from_job_token`` returns unless ``job_token_allowed``, lib/gitlab/auth/auth_finders.rb)."""
    sim.clear_requests()
    public = sorted(p["id"] for p in sim.truth("projects", scope="instance") if p["visibility"] == "public")
    r = requests.get(f"{sim.url}/projects", params={"per_page": 100})
    assert r.status_code == 200 and sorted(p["id"] for p in r.json()) == public
    assert "permissions" not in r.json()[0] and "visibility" not in r.json()[0]
    r = requests.get(f"{sim.url}/projects", headers={"private-token": "wrong"})
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    r = requests.get(f"{sim.url}/projects", headers={"JOB-TOKEN": "wrong"}, params={"per_page": 100})
    assert r.status_code == 200 and sorted(p["id"] for p in r.json()) == public
    assert requests.get(f"{sim.url}/projects", headers=H).status_code == 200
    assert requests.get(f"{sim.url}/projects", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert requests.get(f"{sim.url}/namespaces", headers={"JOB-TOKEN": "sim-job-token"}).status_code == 401
    kinds = [(x.status, x.token_kind) for x in sim.requests]
    assert kinds == [(200, None), (401, None), (200, "job"), (200, "private"), (200, "private"), (401, "job")]
    assert TOKEN not in repr(sim.requests) and "sim-job-token" not in repr(sim.requests)


def test_expired_token(session):
    with Simulator(projects=5, tokens=("a", "b")) as s:
        s.expire_token("a", after_requests=2)
        codes = [requests.get(f"{s.url}/projects", headers={"private-token": "a"}).status_code for _ in range(2)]
        r = requests.get(f"{s.url}/projects", headers={"private-token": "a"})
        assert codes == [200, 200] and r.status_code == 401
        assert r.json() == {"error": "invalid_token", "error_description":
                            "Token is expired. You can either do re-authorization or token refresh."}
        assert requests.get(f"{s.url}/projects", headers={"private-token": "b"}).status_code == 200


def test_unknown_path_and_method(sim, session):
    r = session.get(f"{sim.url}/nope")
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    r = session.post(f"{sim.url}/projects", json={"name": "x"})
    assert r.status_code == 405
    assert session.get(f"{sim.url}/projects/999999999").json() == {"message": "404 Project Not Found"}


# --- pagination -------------------------------------------------------------------------------


def test_offset_pagination_headers(sim, session):
    url = f"{sim.url}/projects"
    r = session.get(url, params={"per_page": 7, "order_by": "id", "sort": "asc"})
    h = r.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Next-Page"], h["X-Prev-Page"]) == ("1", "7", "2", "")
    assert (h["X-Total"], h["X-Total-Pages"]) == ("60", "9")
    assert set(r.links) == {"next", "first", "last"}
    nxt = r.links["next"]["url"]
    assert nxt.startswith(f"{sim.url}/projects?")
    assert parse_qs(urlsplit(nxt).query) == {"per_page": ["7"], "order_by": ["id"], "sort": ["asc"], "page": ["2"]}
    assert parse_qs(urlsplit(r.links["last"]["url"]).query)["page"] == ["9"]
    r2 = session.get(nxt)
    assert set(r2.links) == {"prev", "next", "first", "last"} and r2.headers["X-Prev-Page"] == "1"
    last = session.get(r.links["last"]["url"])
    assert last.headers["X-Next-Page"] == "" and "next" not in last.links and len(last.json()) == 60 - 8 * 7
    records, responses = walk(session, url, per_page=7, order_by="id", sort="asc")
    assert [p["id"] for p in records] == sorted(sim.tenant.project_ids()) and len(responses) == 9


def test_totals_omitted_past_count_limit(session):
    with Simulator(projects=30, count_limit=25, rate_limit=None) as s:
        r = session.get(f"{s.url}/projects", params={"per_page": 10})
        assert "X-Total" not in r.headers and "X-Total-Pages" not in r.headers
        assert r.headers["X-Next-Page"] == "2" and set(r.links) == {"next", "first"}
        records, _ = walk(session, f"{s.url}/projects", per_page=10)
        assert len({p["id"] for p in records}) == 30
        r = session.get(f"{s.url}/groups", params={"per_page": 100})  # under the limit: counted
        groups = s.truth("groups", scope="instance")
        assert len(groups) <= 25 and r.headers["X-Total"] == str(len(groups))


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_keyset_walk_returns_every_id_once(sim, session, sort):
    records, responses = walk(session, f"{sim.url}/projects", pagination="keyset", order_by="id",
                              sort=sort, per_page=8, archived="false")
    ids = [p["id"] for p in records]
    everything = sim.truth("projects", scope="instance")
    expected = sorted((p["id"] for p in everything if not p["archived"]), reverse=sort == "desc")
    assert ids == expected and len(set(ids)) == len(ids)
    first = responses[0]
    assert "X-Total" not in first.headers and "X-Page" not in first.headers
    cursor = "id_after" if sort == "asc" else "id_before"
    query = parse_qs(urlsplit(first.links["next"]["url"]).query)
    assert query[cursor] == [str(ids[7])] and query["archived"] == ["false"]
    assert "Link" not in responses[-1].headers


def test_keyset_needs_order_by_id(sim, session):
    for params in ({"pagination": "keyset"}, {"pagination": "keyset", "order_by": "name"}):
        r = session.get(f"{sim.url}/projects", params=params)
        assert r.status_code == 405
        assert r.json() == {"error": "Keyset pagination is not yet available for this type of request"}


def test_offset_cap(session):
    with Simulator(projects=30, offset_cap=20, rate_limit=None) as s:
        assert session.get(f"{s.url}/projects", params={"per_page": 10, "page": 2}).status_code == 200
        r = session.get(f"{s.url}/projects", params={"per_page": 10, "page": 3})
        assert r.status_code == 405
        assert r.json() == {"error": "Offset pagination has a maximum allowed offset of 20 for requests that return "
                                     "objects of type Project. Remaining records can be retrieved using keyset "
                                     "pagination."}
        records, _ = walk(session, f"{s.url}/projects", pagination="keyset", order_by="id", per_page=10)
        assert len(records) == 30


def test_per_page_clamp(sim, session):
    for asked, got in (("500", "100"), ("0", "1"), ("-3", "1"), ("100", "100")):
        r = session.get(f"{sim.url}/projects", params={"per_page": asked})
        assert r.headers["X-Per-Page"] == got and len(r.json()) == min(int(got), 60)
    assert session.get(f"{sim.url}/projects", params={"per_page": "x"}).status_code == 400


# --- rate limit -------------------------------------------------------------------------------


def test_rate_limit_headers_429_and_recovery():
    """Rack::Attack's throttle (lib/gitlab/rack_attack.rb ``throttled_responder``,
    ``throttled_response_headers``; lib/gitlab/throttle.rb): a plain-text ``Retry later`` 429 whose
    ``RateLimit-*`` headers (the limit scaled to 60 s) and ``Retry-After`` (seconds left) appear only on
    the 429; requests over the limit still count; a rejected token does not use the budget."""
    with Simulator(projects=5, rate_limit=5, rate_window=1.0) as s, requests.Session() as http:
        http.headers.update(H)
        time.sleep(1.0 - time.time() % 1.0 + 0.02)  # start at the beginning of a window
        for i in range(5):
            r = http.get(f"{s.url}/projects")
            assert r.status_code == 200 and not any(k.lower().startswith("ratelimit") for k in r.headers)
            if i == 2:  # a 401 in between does not use the budget
                assert requests.get(f"{s.url}/projects", headers={"private-token": "nope"}).status_code == 401
        r = http.get(f"{s.url}/projects")
        assert r.status_code == 429 and r.text == "Retry later\n"
        assert r.headers["Content-Type"] == "text/plain"
        h = r.headers
        assert (h["RateLimit-Name"], h["RateLimit-Limit"], h["RateLimit-Observed"], h["RateLimit-Remaining"]) == (
            "throttle_authenticated_api", "300", "6", "0")
        reset = int(h["RateLimit-Reset"])
        assert int(h["Retry-After"]) == 1
        assert h["RateLimit-ResetTime"].endswith("GMT")
        assert http.get(f"{s.url}/projects").headers["RateLimit-Observed"] == "7"  # still counted
        time.sleep(max(0.0, reset - time.time()) + 0.05)
        r = http.get(f"{s.url}/projects")
        assert r.status_code == 200 and "RateLimit-Observed" not in r.headers


# --- faults -----------------------------------------------------------------------------------


def test_each_fault_kind():
    # rate_limit_headers="always": RateLimit-Observed on every answer shows which requests were counted
    with Simulator(projects=10, stall_seconds=0.3, rate_limit=100, rate_limit_headers="always") as s, \
            requests.Session() as http:
        http.headers.update(H)
        url = f"{s.url}/projects"
        normal = http.get(url)
        observed = int(normal.headers["RateLimit-Observed"])

        s.inject("500")
        r = http.get(url)
        assert r.status_code == 500 and r.json() == {"message": "500 Internal Server Error"}
        s.inject("502_html")
        r = http.get(url)
        assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html") and b"<html" in r.content
        s.inject("503_retry_after")
        r = http.get(url)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        s.inject("reset")
        with pytest.raises(requests.ConnectionError):
            http.get(url)
        s.inject("stall")
        t = time.monotonic()
        r = http.get(url)
        assert r.status_code == 200 and time.monotonic() - t >= 0.3 and r.content == normal.content
        s.inject("truncated")
        r = http.get(url)
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content) == len(normal.content) // 2
        with pytest.raises(ValueError):
            json.loads(r.content)
        s.inject("empty")
        r = http.get(url)
        assert r.status_code == 200 and r.content == b""
        s.inject("429", retry_after=7)
        r = http.get(url)
        assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.headers["RateLimit-Remaining"] == "0"
        assert r.text == "Retry later\n"
        assert {"RateLimit-Limit", "RateLimit-Observed", "RateLimit-Reset", "RateLimit-ResetTime"} <= set(r.headers)

        r = http.get(url)
        assert r.status_code == 200 and r.content == normal.content
        # only the stall (answered normally) used the budget among the faulted requests
        assert int(r.headers["RateLimit-Observed"]) == observed + 2
        faults = [x.fault for x in s.requests if x.fault]
        assert faults == ["500", "502_html", "503_retry_after", "reset", "stall", "truncated", "empty", "429"]
        assert set(faults) == set(FAULT_KINDS)


def test_fault_path_prefix_count_and_random_plan(session):
    with Simulator(projects=10, rate_limit=None) as s:
        s.inject("500", count=2, path_prefix="/groups")
        assert session.get(f"{s.url}/projects").status_code == 200
        assert [session.get(f"{s.url}/groups").status_code for _ in range(3)] == [500, 500, 200]

    def codes(seed):
        with Simulator(projects=5, rate_limit=None, fault_rate=0.5, fault_kinds=("500", "503_retry_after"),
                       fault_seed=seed) as s2:
            return [session.get(f"{s2.url}/projects").status_code for _ in range(20)]

    first = codes(3)
    assert first == codes(3) and {200, 500, 503} == set(first)


# --- child endpoints --------------------------------------------------------------------------


def test_ci_disabled_and_inaccessible_projects(sim, session):
    t = sim.tenant
    assert t.ci_disabled_ids and t.not_found_ids and not (t.ci_disabled_ids & t.not_found_ids)
    pid = min(t.ci_disabled_ids)
    detail = session.get(f"{sim.url}/projects/{pid}").json()
    assert detail["builds_access_level"] == "disabled" and detail["jobs_enabled"] is False
    for child in ("pipelines", "jobs"):
        r = session.get(f"{sim.url}/projects/{pid}/{child}")
        assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    assert session.get(f"{sim.url}/projects/{pid}/members").status_code == 200
    pid = min(t.not_found_ids)
    assert session.get(f"{sim.url}/projects/{pid}").status_code == 200
    for child in ("members", "pipelines", "jobs"):
        r = session.get(f"{sim.url}/projects/{pid}/{child}")
        assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}
        assert t.child_status(pid, child) == 404


def test_project_by_encoded_path_and_pipeline_shapes(sim, session):
    pipe = sim.truth("pipelines", scope="instance")[0]
    project = sim.tenant.project(pipe["project_id"])
    r = session.get(f"{sim.url}/projects/{quote(project.path_with_namespace, safe='')}")
    assert r.status_code == 200 and r.json()["id"] == project.id
    rows = session.get(f"{sim.url}/projects/{project.id}/pipelines", params={"per_page": 100}).json()
    assert set(rows[0]) == {"id", "iid", "project_id", "sha", "ref", "status", "source", "created_at",
                            "updated_at", "web_url", "name"}
    assert [x["id"] for x in rows] == sorted((x["id"] for x in rows), reverse=True)
    detail = session.get(f"{sim.url}/projects/{project.id}/pipelines/{pipe['id']}").json()
    assert detail == pipe and {"before_sha", "duration", "detailed_status", "user"} <= set(detail)
    jobs = session.get(f"{sim.url}/projects/{project.id}/pipelines/{pipe['id']}/jobs").json()
    assert jobs and all(j["pipeline"]["id"] == pipe["id"] for j in jobs)


def test_jobs_scope_filter(sim, session):
    jobs = sim.truth("jobs", scope="instance")
    pid = next(j["project_id"] for j in jobs if j["status"] != "success")
    mine = [j for j in jobs if j["project_id"] == pid]
    r = session.get(f"{sim.url}/projects/{pid}/jobs", params=[("scope[]", "success"), ("scope[]", "failed"),
                                                               ("per_page", "100")])
    assert sorted(j["id"] for j in r.json()) == sorted(j["id"] for j in mine if j["status"] in ("success", "failed"))
    assert session.get(f"{sim.url}/projects/{pid}/jobs", params={"scope[]": "bogus"}).status_code == 400


# --- filters ----------------------------------------------------------------------------------


def test_updated_after_requires_order_by_updated_at(sim, session):
    """``updated_after`` needs ``order_by=updated_at`` and is inclusive (``ProjectsFinder`` includes
    ``UpdatedAtFilter``; ``UpdatedAtFilterable.updated_after`` is ``gteq``)."""
    projects = sim.truth("projects", scope="instance")
    cut = sorted(p["updated_at"] for p in projects)[len(projects) // 2]
    r = session.get(f"{sim.url}/projects", params={"updated_after": cut})
    assert r.status_code == 400
    assert r.json() == {"message": "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired"}
    assert session.get(f"{sim.url}/projects", params={"updated_after": cut, "order_by": "name"}).status_code == 400
    records, _ = walk(session, f"{sim.url}/projects", updated_after=cut, order_by="updated_at", sort="asc", per_page=10)
    assert [p["id"] for p in records] == [p["id"] for p in sorted(projects, key=lambda p: (p["updated_at"], p["id"]))
                                          if p["updated_at"] >= cut]
    assert any(p["updated_at"] == cut for p in records)


def test_last_activity_and_archived_filters(sim, session):
    projects = sim.truth("projects", scope="instance")
    cut = sorted(p["last_activity_at"] for p in projects)[len(projects) // 3]
    records, _ = walk(session, f"{sim.url}/projects", last_activity_after=cut, per_page=100)
    assert {p["id"] for p in records} == {p["id"] for p in projects if p["last_activity_at"] > cut}
    records, _ = walk(session, f"{sim.url}/projects", archived="true", per_page=100)
    assert {p["id"] for p in records} == {p["id"] for p in projects if p["archived"]}
    simple = session.get(f"{sim.url}/projects", params={"simple": "true"}).json()[0]
    assert "statistics" not in simple and "archived" not in simple and "namespace" in simple
    assert "statistics" in session.get(f"{sim.url}/projects", params={"statistics": "true"}).json()[0]


# --- truth equals what the API serves ---------------------------------------------------------


def test_truth_equals_full_walk(sim, session):
    t = sim.tenant
    got = {}
    got["projects"], _ = walk(session, f"{sim.url}/projects", statistics="true", per_page=50)
    got["groups"], _ = walk(session, f"{sim.url}/groups", statistics="true", per_page=7)
    got["namespaces"], _ = walk(session, f"{sim.url}/namespaces", per_page=25)
    got["project_members"], got["pipelines"], got["jobs"], got["group_members"] = [], [], [], []
    for p in got["projects"]:
        if t.child_status(p["id"], "members") == 200:
            rows, _ = walk(session, f"{sim.url}/projects/{p['id']}/members", per_page=3)
            got["project_members"] += [dict(m, project_id=p["id"]) for m in rows]
        if t.child_status(p["id"], "pipelines") == 200:
            rows, _ = walk(session, f"{sim.url}/projects/{p['id']}/pipelines", per_page=4)
            got["pipelines"] += [session.get(f"{sim.url}/projects/{p['id']}/pipelines/{x['id']}").json() for x in rows]
            rows, _ = walk(session, f"{sim.url}/projects/{p['id']}/jobs", per_page=20)
            got["jobs"] += [dict(j, project_id=p["id"], pipeline_id=j["pipeline"]["id"]) for j in rows]
    for g in got["groups"]:
        rows, _ = walk(session, f"{sim.url}/groups/{g['id']}/members", per_page=4)
        got["group_members"] += [dict(m, group_id=g["id"]) for m in rows]
    for stream, rows in got.items():
        truth = sim.truth(stream, scope="instance")
        assert truth, stream
        assert by_id(rows) == by_id(truth), stream


def test_groups_keyset_and_hierarchy(sim, session):
    """Signed-in ``GET /groups`` is offset-paginated whatever ``pagination`` says; keyset (name asc only)
    is for anonymous callers (lib/api/groups.rb ``present_groups_with_pagination_strategies``)."""
    groups = sim.truth("groups", scope="instance")
    r = session.get(f"{sim.url}/groups", params={"pagination": "keyset", "order_by": "id", "per_page": 4})
    assert r.status_code == 200 and r.headers["X-Page"] == "1" and "X-Total" in r.headers
    public = sorted((g for g in groups if g["visibility"] == "public"), key=lambda g: (g["name"], g["id"]))
    records, _ = walk(requests.Session(), f"{sim.url}/groups", pagination="keyset", order_by="name", per_page=2)
    assert public and [g["id"] for g in records] == [g["id"] for g in public]
    assert requests.get(f"{sim.url}/groups", params={"pagination": "keyset", "order_by": "id"}).status_code == 405
    top = next(g for g in groups if g["parent_id"] is None)
    subs = session.get(f"{sim.url}/groups/{top['id']}/subgroups").json()
    assert subs and all(g["parent_id"] == top["id"] for g in subs)
    below = session.get(f"{sim.url}/groups/{top['id']}/descendant_groups", params={"per_page": 100}).json()
    assert {g["id"] for g in subs} <= {g["id"] for g in below}
    tops = session.get(f"{sim.url}/groups", params={"top_level_only": "true", "per_page": 100}).json()
    assert {g["id"] for g in tops} == {g["id"] for g in groups if g["parent_id"] is None}
    paths = {g["full_path"] for g in below} | {top["full_path"]}
    projects, _ = walk(session, f"{sim.url}/groups/{top['id']}/projects", include_subgroups="true", per_page=100)
    assert projects and all(p["namespace"]["full_path"] in paths for p in projects)
    assert {p["id"] for p in projects} == {p["id"] for p in sim.truth("projects", scope="instance")
                                           if p["namespace"]["full_path"] in paths}


# --- mutations --------------------------------------------------------------------------------


def test_after_requests_mutates_mid_listing(session):
    with Simulator(projects=30, seed=2, rate_limit=None) as s:
        calls = []

        def grow(tenant):
            calls.append(tenant.create_projects(5))

        s.after_requests(2, grow)
        totals = [session.get(f"{s.url}/projects", params={"per_page": 10, "page": i}).headers["X-Total"]
                  for i in (1, 2, 3)]
        assert totals == ["30", "30", "35"] and len(calls) == 1
        new = calls[0]
        assert set(new) <= {p["id"] for p in s.truth("projects", scope="instance")}
        assert min(new) > max(s.tenant.project_ids()[:-5])
        # newest first by default: the new projects lead the listing
        assert [p["id"] for p in session.get(f"{s.url}/projects", params={"per_page": 5}).json()] == sorted(new)[::-1]


def test_tenant_mutations(session):
    """``add_pipeline`` runs a pipeline but never moves ``last_activity_at`` (no Event); ``touch_project``
    is an Event, which moves ``last_activity_at`` and ``updated_at`` (``Event#reset_project_activity``
    with ``touch_all``, app/models/event.rb) unless it moved within the hour."""
    with Simulator(projects=30, seed=4, rate_limit=None) as s:
        t = s.tenant
        pid = next(p for p in t.project_ids() if t.child_status(p, "pipelines") == 200)
        before = session.get(f"{s.url}/projects/{pid}").json()
        n_pipes = len(session.get(f"{s.url}/projects/{pid}/pipelines").json())
        new_pipe = t.add_pipeline(pid)
        after = session.get(f"{s.url}/projects/{pid}").json()
        assert after["last_activity_at"] == before["last_activity_at"]
        rows = session.get(f"{s.url}/projects/{pid}/pipelines").json()
        assert len(rows) == n_pipes + 1 and rows[0]["id"] == new_pipe
        assert session.get(f"{s.url}/projects/{pid}/pipelines/{new_pipe}/jobs").json()
        other = t.project_ids()[0]
        assert t.touch_project(other) is True
        touched = session.get(f"{s.url}/projects/{other}").json()
        assert touched["updated_at"] == touched["last_activity_at"] > before["updated_at"]
        assert t.touch_project(other) is False  # within the hour: nothing moves
        assert session.get(f"{s.url}/projects/{other}").json()["last_activity_at"] == touched["last_activity_at"]
        assert next(x["id"] for x in s.truth("projects", scope="instance") if x["id"] == other) == other
        t.delete_projects([other])
        assert session.get(f"{s.url}/projects/{other}").status_code == 404
        assert session.get(f"{s.url}/projects").headers["X-Total"] == "29"


# --- data -------------------------------------------------------------------------------------


def test_tenant_is_deterministic_and_realistic():
    a = Tenant(projects=200, seed=1, anchor=1_700_000_000)
    b = Tenant(projects=200, seed=1, anchor=1_700_000_000)
    for stream in ("projects", "groups", "pipelines", "jobs", "project_members"):
        assert a.truth(stream, scope="instance") == b.truth(stream, scope="instance")
    other = Tenant(projects=200, seed=2, anchor=1_700_000_000)
    assert other.truth("projects", scope="instance") != a.truth("projects", scope="instance")
    projects = a.truth("projects", scope="instance")
    assert 0.04 < sum(p["archived"] for p in projects) / 200 < 0.2
    assert {p["visibility"] for p in projects} == {"private", "internal", "public"}
    stale = [p for p in projects if p["last_activity_at"] < "2022-11-14"]  # > 365 days before the anchor
    assert len(stale) > 10
    assert len(a.ci_disabled_ids) == 10 and len(a.not_found_ids) == 4
    depths = {g["full_path"].count("/") for g in a.truth("groups", scope="instance")}
    assert depths == {0, 1, 2}
    statuses = {p["status"] for p in a.truth("pipelines", scope="instance")}
    assert {"success", "failed", "canceled"} <= statuses
    levels = {m["access_level"] for m in a.truth("project_members", scope="instance")}
    assert levels == {10, 20, 30, 40, 50}
    assert any(m["expires_at"] for m in a.truth("project_members", scope="instance"))


def test_generation_is_fast_for_large_tenants():
    t0 = time.perf_counter()
    t = Tenant(projects=10_000, seed=1)
    assert time.perf_counter() - t0 < 3.0  # ~0.5 s here; generous for slow CI machines
    assert len(t.projects) == 10_000


def test_concurrent_requests(sim):
    def fetch(page):
        with requests.Session() as s:
            return [s.get(f"{sim.url}/projects", headers=H, params={"per_page": 5, "page": page}).status_code
                    for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, range(1, 13)))
    assert all(code == 200 for codes in results for code in codes)


# --- CLI --------------------------------------------------------------------------------------


def _cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "dataops_simulator", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_cli_serves_and_stops_on_sigterm():
    env = dict(os.environ, DATAOPS_SIMULATOR_TOKEN="env-token")
    proc = _cli("--port", "0", "--projects", "12", "--seed", "3", "--latency", "0.01", env=env)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("dataops-simulator listening on http://127.0.0.1:") and line.endswith("/api/v4")
        url = line.rsplit(" ", 1)[1]
        assert ":0/" not in url
        r = requests.get(f"{url}/projects", headers={"private-token": "env-token"}, timeout=5)
        assert r.status_code == 200 and r.headers["X-Total"] == "12"
        assert requests.get(f"{url}/projects", headers=H, timeout=5).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_refuses_non_loopback_host():
    proc = _cli("--host", "0.0.0.0", "--port", "0")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and out == "" and len(err.strip().splitlines()) == 1
