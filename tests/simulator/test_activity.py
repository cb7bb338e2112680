"""What moves ``last_activity_at`` and ``updated_at``, redirects of moved projects, and a day of
activity, over HTTP.

Sources (gitlabhq): ``Event#reset_project_activity`` (app/models/event.rb: only Events, only when
``last_activity_at <= 1.hour.ago``, ``touch_all`` on the newest versions, which moves ``updated_at``
too); ``EventCreateService#join_source`` (a project join is an Event, a group join is not);
``ProjectMember#post_destroy_member_hook`` (leaving or expiring a project is an Event);
``Projects::ArchiveService``/``UpdateService``/``TransferService`` (row updates: ``updated_at``);
``find_project!``/``project_moved?``/``url_with_project_id`` (lib/api/helpers.rb) and
``MovedPermanentlyError`` (lib/api/api.rb) for the 301; ``ProjectsFinder#by_last_activity_after``
(strict); ``RemoveExpiredMembersWorker``/``Member.expired``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dataops_simulator import Simulator, Tenant

HOUR = 3_600_000
ADMIN = {"private-token": "tok-admin"}


@pytest.fixture
def small():
    t = Tenant.empty(seed=2, anchor=1_700_000_000, pipelines_per_project=(2, 3))
    corp = t.new_group("corp", "private", org="Corp")
    team = t.new_group("team", "private", corp)
    other = t.new_group("other", "private", org="Corp")
    dev = t.new_user("dana.dev", org="Corp")
    t.add_member(corp, dev, 30, t.anchor_ms - 300 * 86_400_000)
    p = t.new_project(team, "Warehouse", last_activity_ms=t.anchor_ms - 10 * HOUR)
    q = t.new_project(team, "Reports", last_activity_ms=t.anchor_ms - 10 * HOUR)
    with Simulator(tenant=t, tokens=(), job_tokens=(), token_kinds={"tok-admin": "admin"}, rate_limit=None) as sim:
        yield sim, t, p, q, corp, team, other, dev


def project(sim, pid):
    return requests.get(f"{sim.url}/projects/{pid}", headers=ADMIN).json()


def test_events_move_last_activity_at_once_an_hour(small):
    """An Event moves ``last_activity_at`` (and ``updated_at``, ``touch_all``) to its time only if the
    current value is at least an hour old; a second event within the hour moves nothing."""
    sim, t, p, *_ = small
    before = project(sim, p.id)
    at = t.anchor_ms + HOUR
    assert t.event(p.id, at, "pushed") is True
    after = project(sim, p.id)
    assert after["last_activity_at"] == after["updated_at"] > before["last_activity_at"]
    assert t.event(p.id, at + HOUR - 1, "commented") is False
    assert project(sim, p.id)["last_activity_at"] == after["last_activity_at"]
    assert t.event(p.id, at + HOUR, "commented") is True   # exactly an hour later: <= 1.hour.ago
    assert project(sim, p.id)["last_activity_at"] > after["last_activity_at"]


def test_what_does_not_move_last_activity_at(small):
    """Pipelines (new ones and retries), group membership changes, access-level changes, archiving,
    renaming and transferring never create an Event; the row updates move ``updated_at`` only."""
    sim, t, _p, q, corp, team, other, dev = small
    base = project(sim, q.id)
    t.add_pipeline(q.id, source="schedule")
    t.add_member(team, t.new_user("gus.group", org="Corp"), 30, t.anchor_ms + HOUR)
    t.change_access(corp, dev, 40)
    assert project(sim, q.id)["last_activity_at"] == base["last_activity_at"]
    assert project(sim, q.id)["updated_at"] == base["updated_at"]
    for change in (lambda: t.archive_project(q.id, t.anchor_ms + 2 * HOUR),
                   lambda: t.rename_project(q.id, "Reports Two", t.anchor_ms + 3 * HOUR),
                   lambda: t.transfer_project(q.id, other.id, t.anchor_ms + 4 * HOUR)):
        before = project(sim, q.id)
        change()
        after = project(sim, q.id)
        assert after["last_activity_at"] == base["last_activity_at"]
        assert after["updated_at"] > before["updated_at"]


def test_project_membership_changes_are_events(small):
    """Joining a project is an Event (``joined``), so is leaving it (``left``); a group's are not."""
    sim, t, p, q, corp, _team, _other, dev = small
    newcomer = t.new_user("nia.new", org="Corp")
    before = project(sim, p.id)["last_activity_at"]
    t.add_member(p, newcomer, 20, t.anchor_ms + 2 * HOUR)
    joined = project(sim, p.id)["last_activity_at"]
    assert joined > before
    t.remove_member(p, newcomer, t.anchor_ms + 4 * HOUR)
    assert project(sim, p.id)["last_activity_at"] > joined
    assert [e[1] for e in t.events[-2:]] == ["joined", "left"]
    last = project(sim, q.id)["last_activity_at"]
    t.remove_member(corp, dev, t.anchor_ms + 6 * HOUR)
    assert project(sim, q.id)["last_activity_at"] == last


def test_moved_project_answers_301(small):
    """An old path answers 301 with ``Location`` = the same route with the numeric id, query kept
    (``url_with_project_id``), a plain-text body; the id and the new path answer 200 directly."""
    sim, t, p, *_ = small
    old = p.path_with_namespace
    new = t.rename_project(p.id, "Warehouse Next", t.anchor_ms + HOUR)
    url = f"{sim.url}/projects/{requests.utils.quote(old, safe='')}/pipelines?per_page=3&ref=main"
    r = requests.get(url, headers=ADMIN, allow_redirects=False)
    assert r.status_code == 301
    loc = urlsplit(r.headers["Location"])
    assert loc.path == f"/api/v4/projects/{p.id}/pipelines"
    assert parse_qs(loc.query) == {"per_page": ["3"], "ref": ["main"]}
    assert r.text == f"This resource has been moved permanently to {r.headers['Location']}"
    assert requests.get(url, headers=ADMIN).status_code == 200   # followed
    assert requests.get(f"{sim.url}/projects/{requests.utils.quote(new, safe='')}", headers=ADMIN).status_code == 200
    assert requests.get(f"{sim.url}/projects/{p.id}", headers=ADMIN, allow_redirects=False).status_code == 200
    r = requests.get(f"{sim.url}/projects/{requests.utils.quote(old, safe='')}", allow_redirects=False)
    assert r.status_code == 404   # read access is checked before the redirect
    assert requests.post(f"{sim.url}/projects/{requests.utils.quote(old, safe='')}", headers=ADMIN).status_code == 405


def test_moved_group_redirects_its_projects(small):
    """Moving a group (``Groups::TransferService``) changes its projects' paths (old ones redirect) but
    does not update the project rows: ``updated_at`` stays."""
    sim, t, p, _q, _corp, team, other, _dev = small
    old = p.path_with_namespace
    before = project(sim, p.id)
    assert t.move_group(team.id, other.id) == "other/team"
    after = project(sim, p.id)
    assert after["path_with_namespace"] == "other/team/warehouse" and after["updated_at"] == before["updated_at"]
    r = requests.get(f"{sim.url}/projects/{requests.utils.quote(old, safe='')}", headers=ADMIN,
                     allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/projects/{p.id}")


def test_last_activity_after_is_strict(small):
    """``last_activity_after`` is ``last_activity_at > ?`` (``ProjectsFinder#by_last_activity_after``)."""
    sim, _t, p, *_ = small
    cut = project(sim, p.id)["last_activity_at"]
    rows = requests.get(f"{sim.url}/projects", headers=ADMIN, params={"last_activity_after": cut}).json()
    assert p.id not in {x["id"] for x in rows}
    rows = requests.get(f"{sim.url}/projects", headers=ADMIN, params={"last_activity_before": cut}).json()
    assert p.id not in {x["id"] for x in rows}


def test_expired_memberships_are_removed(small):
    """A membership whose ``expires_at`` has come is removed (``Member.expired``: ``expires_at <= today``),
    which on a project is an ``expired`` Event."""
    sim, t, p, *_ = small
    temp = t.new_user("tim.temp", org="Corp")
    tomorrow = "2023-11-15"   # the anchor is 2023-11-14T22:13:20Z
    t.add_member(p, temp, 20, t.anchor_ms - 48 * HOUR, expires=tomorrow)
    changes = sim.advance_day()
    assert ("project", p.id, temp.id) in changes["members_expired"]
    assert temp.id not in {m["id"] for m in requests.get(f"{sim.url}/projects/{p.id}/members", headers=ADMIN).json()}
    assert ("expired" in {e[1] for e in t.events if e[0] == p.id})


@pytest.fixture(scope="module")
def day():
    with Simulator.instance(projects=70, other_projects=80, seed=4, anchor=1_700_000_000, rate_limit=None,
                            endpoint_limits=None) as s:
        before = {p["id"]: p for p in s.truth("projects", token="admin", scope="instance")}
        pipelines_before = {p["id"]: p for p in s.truth("pipelines", token="admin", scope="instance")}
        job_before = requests.get(f"{s.url}/job", headers={"JOB-TOKEN": s.token("job")}).status_code
        changes = s.advance_day()
        yield s, before, pipelines_before, job_before, changes


def test_a_day_of_activity_changes_everything_it_says(day):
    """``advance_day`` reports each kind of change, and the API shows each of them."""
    s, _before, pipelines_before, job_before, changes = day
    for key in ("events", "pipelines_created", "pipelines_finished", "jobs_retried", "archived", "renamed",
                "transferred", "deleted_projects", "moved_groups", "deleted_groups", "members_added",
                "members_removed", "access_changed", "projects_created", "shares_created", "last_activity_moved"):
        assert changes[key], key
    admin = {"private-token": s.token("admin")}
    now = {p["id"]: p for p in s.truth("projects", token="admin", scope="instance")}
    assert all(now[i]["archived"] for i in changes["archived"])
    assert all(i not in now for i in changes["deleted_projects"])
    assert all(requests.get(f"{s.url}/projects/{i}", headers=admin).status_code == 404
               for i in changes["deleted_projects"])
    for pid, old, new in changes["renamed"] + changes["transferred"]:
        assert now[pid]["path_with_namespace"] == new
        r = requests.get(f"{s.url}/projects/{requests.utils.quote(old, safe='')}", headers=admin,
                         allow_redirects=False)
        assert r.status_code == 301
    finished = {p["id"]: p for p in s.truth("pipelines", token="admin", scope="instance")}
    assert all(finished[i]["status"] in ("success", "failed", "canceled", "skipped")
               for i in changes["pipelines_finished"])
    assert all(pipelines_before[i]["status"] not in ("success", "failed", "canceled", "skipped")
               for i in changes["pipelines_finished"])
    assert job_before == 200 and requests.get(f"{s.url}/job", headers={"JOB-TOKEN": s.token("job")}).status_code == 401


def test_only_events_moved_last_activity_at(day):
    """Every project whose ``last_activity_at`` moved had an Event that day, and at that instant; the
    projects that only ran pipelines (scheduled, API) did not move."""
    s, before, _pipelines_before, _job_before, changes = day
    now = {p["id"]: p for p in s.truth("projects", token="admin", scope="instance")}
    evented = {e[0] for e in s.tenant.events}
    created = set(changes["projects_created"])
    for pid in changes["last_activity_moved"]:
        assert pid in evented or pid in created
    pipeline_projects = {p["project_id"] for p in s.truth("pipelines", token="admin", scope="instance")
                         if p["id"] in changes["pipelines_created"]}
    quiet = pipeline_projects - evented - created
    assert quiet, "some projects only ran pipelines"
    for pid in quiet & set(now):
        assert now[pid]["last_activity_at"] == before[pid]["last_activity_at"]


def test_truth_follows_the_day(day):
    """After the day, the token user's truth is still exactly what the API serves."""
    s, *_ = day
    h = {"private-token": s.token("user")}
    rows, r = [], requests.get(f"{s.url}/projects", headers=h,
                               params={"membership": "true", "statistics": "true", "per_page": 100})
    while True:
        rows += r.json()
        if "next" not in r.links:
            break
        r = requests.get(r.links["next"]["url"], headers=h)
    assert sorted(rows, key=lambda p: p["id"]) == s.truth("projects")
    groups = requests.get(f"{s.url}/groups", headers=h, params={"per_page": 100}).json()
    assert sorted(groups, key=lambda g: g["id"]) == s.truth("groups")


def test_a_day_is_deterministic():
    """The same instance advanced by a day changes the same things."""
    def run():
        with Simulator.instance(projects=30, other_projects=30, seed=8, anchor=1_700_000_000, rate_limit=None) as s:
            changes = s.advance_day()
            return changes, s.truth("pipelines", token="admin", scope="instance")
    assert run() == run()
