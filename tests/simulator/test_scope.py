"""Who sees what on a shared DataOps.live instance, per token kind, over HTTP.

Sources (gitlabhq): ``ProjectsFinder`` (app/finders/projects_finder.rb: ``collection_with_user``,
``collection_without_user``), ``Gitlab::ProjectAuthorizations`` (lib/gitlab/project_authorizations.rb),
``User#authorized_groups`` and ``User#namespaces`` (app/models/user.rb), ``GroupsFinder``
(app/finders/groups_finder.rb), lib/api/groups.rb ``find_groups``/``present_groups``,
lib/api/namespaces.rb and ``check_namespace_access`` (lib/api/helpers.rb), ``GroupPolicy``
(``read_group``, ``read_group_member``), ``API::Entities::Project``/``ProjectWithAccess``/``Namespace``,
``find_user_from_job_token`` (lib/gitlab/auth/auth_finders.rb) and lib/api/ci/pipelines.rb.
"""

from __future__ import annotations

import pytest
import requests

from dataops_simulator import Simulator

USER = {"private-token": "sim-user-token"}


@pytest.fixture(scope="module")
def sim():
    with Simulator.instance(projects=80, other_projects=150, seed=3, anchor=1_700_000_000, rate_limit=None,
                            endpoint_limits=None) as s:
        yield s


def get_all(url, headers=None, **params):
    out, r = [], requests.get(url, headers=headers, params={"per_page": 100, **params})
    while True:
        assert r.status_code == 200, (url, r.status_code, r.text)
        out += r.json()
        if "next" not in r.links:
            return out
        r = requests.get(r.links["next"]["url"], headers=headers)


def ids(rows):
    return sorted(r["id"] for r in rows)


def pid(sim, path):
    p = sim.tenant.project(path)
    assert p is not None, path
    return p.id


def gid(sim, path):
    g = sim.tenant.group(path)
    assert g is not None, path
    return g.id


def test_projects_default_scope_is_public_internal_and_authorized(sim):
    """``GET /projects`` for a signed-in user: ``Project.public_or_visible_to_user`` (public, internal,
    authorized); ``membership=true``: ``current_user.authorized_projects`` only."""
    everything = sim.truth("projects", token="admin", scope="instance")
    authorized = ids(sim.truth("projects", token="user"))
    visible = get_all(f"{sim.url}/projects", USER)
    assert ids(visible) == sorted({p["id"] for p in everything if p["visibility"] in ("public", "internal")}
                                  | set(authorized))
    assert ids(get_all(f"{sim.url}/projects", USER, membership="true")) == authorized
    other_orgs = {p["id"] for p in everything if not p["path_with_namespace"].startswith(("acme", "alex.morgan"))}
    assert set(ids(visible)) & other_orgs, "other customers' internal/public projects are visible"


def test_every_route_to_a_project(sim):
    """The token user's authorizations by route (``Gitlab::ProjectAuthorizations``): inherited group
    membership, subgroup membership, direct project membership, personal projects, a project shared with
    their group and with a subgroup of it (the CTE walks down), a group shared with their group, another
    customer's shared project; and not a group shared with a subgroup (group links count for *direct*
    members only: ``join_members_on_group_group_links``)."""
    mine = set(ids(get_all(f"{sim.url}/projects", USER, membership="true")))
    for path in ("acme-labs/labs-playground", "acme-labs/team-alpha/alpha-streamlit-app",
                 "acme/data-platform/ingestion/dbt-models", "acme/analytics/reporting/ops-reporting",
                 "alex.morgan/scratch-notebooks", "acme/finance/finance-ledger-data-product",
                 "acme/finance/finance-forecasting-models", "acme/marketing/marketing-attribution",
                 "globex/globex-partner-data-share"):
        assert pid(sim, path) in mine, path
    for path in ("acme/sandbox/sandbox-experiments", "acme/finance/finance-close-reporting",
                 "dataops-live/internal-tools/release-tooling"):
        assert pid(sim, path) not in mine, path


def test_access_levels_and_statistics(sim):
    """``statistics`` only with Reporter or more (``read_statistics``; the key is absent otherwise);
    the share's level is ``LEAST(member, link)``; ``permissions`` holds direct memberships only."""
    rows = {p["id"]: p for p in get_all(f"{sim.url}/projects", USER, membership="true", statistics="true")}
    guest = rows[pid(sim, "acme/analytics/reporting/ops-reporting")]
    assert "statistics" not in guest and guest["permissions"]["project_access"]["access_level"] == 10
    reporter = rows[pid(sim, "acme/analytics/reporting/executive-dashboards")]
    assert "statistics" in reporter and reporter["permissions"]["project_access"]["access_level"] == 20
    ledger = pid(sim, "acme/finance/finance-ledger-data-product")   # Developer of acme-labs, link Reporter
    shared = rows[ledger]
    assert "statistics" in shared and shared["permissions"] == {"project_access": None, "group_access": None}
    me = next(m for m in get_all(f"{sim.url}/projects/{ledger}/members/all", USER) if m["username"] == "alex.morgan")
    assert me["access_level"] == 20   # LEAST(Developer, Reporter)
    marketing = pid(sim, "acme/marketing/marketing-attribution")     # group link at Developer
    me = next(m for m in get_all(f"{sim.url}/projects/{marketing}/members/all", USER) if m["username"] == "alex.morgan")
    assert me["access_level"] == 30
    developer = {p["id"] for p in get_all(f"{sim.url}/projects", USER, min_access_level=30)}
    assert marketing in developer and ledger not in developer   # authorized_projects(min_access_level)
    inherited = rows[pid(sim, "acme-labs/team-alpha/alpha-streamlit-app")]
    assert inherited["permissions"]["group_access"]["access_level"] == 30
    public = next(p for p in get_all(f"{sim.url}/projects", USER, statistics="true")
                  if p["id"] not in rows and p["visibility"] == "public")
    assert "statistics" not in public
    grp = gid(sim, "acme-labs")
    for p in get_all(f"{sim.url}/groups/{grp}/projects", USER, statistics="true", include_subgroups="true"):
        assert "statistics" not in p and "permissions" not in p


def test_shared_with_groups_lists_readable_groups(sim):
    """``shared_with_groups`` (``Project#visible_group_links``: only groups the viewer can read),
    fields ``group_id, group_name, group_full_path, group_access_level, expires_at``."""
    p = requests.get(f"{sim.url}/projects/{pid(sim, 'acme/finance/finance-ledger-data-product')}", headers=USER).json()
    assert p["shared_with_groups"] == [{"group_id": gid(sim, "acme-labs"), "group_name": "Acme Labs",
                                        "group_full_path": "acme-labs", "group_access_level": 20, "expires_at": None}]
    g = requests.get(f"{sim.url}/groups/{gid(sim, 'acme/marketing')}", headers=USER).json()
    assert [s["group_full_path"] for s in g["shared_with_groups"]] == ["acme-labs"]
    assert "shared_with_groups" not in get_all(f"{sim.url}/groups", USER)[0]


def test_anonymous_sees_public_projects_only(sim):
    """No token: ``collection_without_user`` (``Project.public_to_user``), rendered as
    ``BasicProjectDetails``; ``membership=true`` is ``Project.none``."""
    everything = sim.truth("projects", token="admin", scope="instance")
    rows = get_all(f"{sim.url}/projects")
    assert ids(rows) == ids(p for p in everything if p["visibility"] == "public")
    assert all("permissions" not in p and "statistics" not in p for p in rows)
    assert get_all(f"{sim.url}/projects", membership="true") == []
    private = pid(sim, "acme/data-platform/ingestion/dbt-models")
    assert requests.get(f"{sim.url}/projects/{private}").status_code == 404


def test_bots_external_and_admin(sim):
    """Access-token bots are internal users: they see Internal projects (``levels_for_user``) plus their
    own; an external user does not see Internal ones; an admin sees everything, and has no
    authorizations of its own (``membership=true`` is empty)."""
    everything = sim.truth("projects", token="admin", scope="instance")
    internal = {p["id"] for p in everything if p["visibility"] in ("public", "internal")}
    public = {p["id"] for p in everything if p["visibility"] == "public"}
    for kind, expected_own in (("project_bot", 1), ("group_bot", None)):
        h = {"private-token": sim.token(kind)}
        own = set(ids(get_all(f"{sim.url}/projects", h, membership="true")))
        assert expected_own is None or len(own) == expected_own
        assert set(ids(get_all(f"{sim.url}/projects", h))) == internal | own
    acme_tree = {p["id"] for p in everything if p["path_with_namespace"].startswith("acme/")}
    assert set(ids(get_all(f"{sim.url}/projects", {"private-token": sim.token("group_bot")},
                           membership="true"))) == acme_tree
    ext = {"private-token": sim.token("external")}
    own = set(ids(get_all(f"{sim.url}/projects", ext, membership="true")))
    assert own and set(ids(get_all(f"{sim.url}/projects", ext))) == public | own
    admin = {"private-token": sim.token("admin")}
    assert ids(get_all(f"{sim.url}/projects", admin)) == ids(everything)
    assert get_all(f"{sim.url}/projects", admin, membership="true") == []


def test_groups_default_and_all_available(sim):
    """Non-admin ``GET /groups``: ``all_available`` false by default, so ``authorized_groups`` plus their
    ancestors (``GroupsFinder``); with ``all_available=true`` public and internal groups are added."""
    default = {g["full_path"] for g in get_all(f"{sim.url}/groups", USER)}
    assert {"acme-labs", "acme-labs/team-alpha", "acme-labs/team-beta", "acme", "acme/data-platform",
            "acme/data-platform/ingestion", "acme/governance", "acme/governance/policies", "acme/analytics",
            "acme/analytics/reporting", "acme/marketing", "acme/finance", "globex"} <= default
    assert not {"acme/sandbox", "acme/data-platform/transformation", "acme-oss", "dataops-live"} & default
    everything = {g["full_path"] for g in get_all(f"{sim.url}/groups", USER, all_available="true")}
    assert default | {"acme-oss", "dataops-live", "dataops-live/reference-projects"} <= everything
    assert "dataops-live/internal-tools" not in everything
    assert default == {g["full_path"] for g in sim.truth("groups", token="user")}
    subgroups = get_all(f"{sim.url}/groups/{gid(sim, 'acme')}/subgroups", USER)
    assert {g["full_path"] for g in subgroups} == {p for p in default if p.count("/") == 1 and p.startswith("acme/")}
    assert all("statistics" not in g for g in get_all(f"{sim.url}/groups", USER, statistics="true"))


def test_group_read_and_member_access(sim):
    """``GET /groups/:id`` needs ``read_group``: a private ancestor the user reaches only through an
    empty subgroup answers 404, one holding a project they can see answers 200 (``has_projects``); its
    members answer 403 (``can_read_group_member?``: private and no access)."""
    assert requests.get(f"{sim.url}/groups/{gid(sim, 'acme/governance')}", headers=USER).status_code == 404
    assert requests.get(f"{sim.url}/groups/{gid(sim, 'acme')}", headers=USER).status_code == 200
    r = requests.get(f"{sim.url}/groups/{gid(sim, 'acme')}/members", headers=USER)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    r = requests.get(f"{sim.url}/groups/{gid(sim, 'acme/governance')}/members", headers=USER)
    assert r.status_code == 404 and r.json() == {"message": "404 Group Not Found"}
    assert requests.get(f"{sim.url}/groups/{gid(sim, 'acme-labs/team-beta')}/members", headers=USER).status_code == 200
    assert requests.get(f"{sim.url}/groups/{gid(sim, 'acme-labs')}/members").status_code == 401


def test_namespaces_list_and_detail(sim):
    """``GET /namespaces``: the personal namespace plus direct-membership groups (``User#namespaces``);
    ``GET /namespaces/:id`` needs a membership of the group or an ancestor, or ownership of the personal
    namespace (``read_namespace_via_membership``); anonymous callers get 401."""
    listed = {n["full_path"] for n in get_all(f"{sim.url}/namespaces", USER)}
    assert listed == {"alex.morgan", "acme-labs", "acme/data-platform/ingestion", "acme/governance/policies"}
    for path, status in (("acme-labs/team-alpha", 200), ("acme", 404), ("dataops-live", 404), ("alex.morgan", 200),
                         ("root", 404), ("acme/marketing", 200)):
        ns = next(n for n in sim.tenant.namespaces.values() if n.full_path == path)
        r = requests.get(f"{sim.url}/namespaces/{ns.id}", headers=USER)
        assert r.status_code == status, path
        if status == 404:
            assert r.json() == {"message": "404 Namespace Not Found"}
    assert requests.get(f"{sim.url}/namespaces").status_code == 401


def test_namespace_fields_follow_the_viewers_rights(sim):
    """``API::Entities::Namespace``: ``members_count_with_descendants``/``root_repository_size``/
    ``projects_count`` only for the group's Owner; EE ``billable_members_count`` present but null, and
    ``plan`` absent, unless the viewer owns the namespace; admin-only limits absent."""
    rows = {n["full_path"]: n for n in get_all(f"{sim.url}/namespaces", USER)}
    labs = rows["acme-labs"]
    assert "members_count_with_descendants" not in labs and "plan" not in labs
    assert labs["billable_members_count"] is None and "shared_runners_minutes_limit" not in labs
    mine = rows["alex.morgan"]
    assert mine["plan"] == "free" and "members_count_with_descendants" not in mine
    admin = {"private-token": sim.token("admin")}
    full = requests.get(f"{sim.url}/namespaces/{labs['id']}", headers=admin).json()
    assert {"members_count_with_descendants", "plan", "shared_runners_minutes_limit"} <= set(full)


def test_ci_visibility_per_viewer(sim):
    """CI/CD visible to members only (``builds_access_level: private``) looks disabled to others
    (``jobs_enabled`` is ``feature_available?(:builds, user)``) and its pipelines answer 403; public
    pipelines off: a Guest may not read them."""
    ref = next(p for p in sim.tenant.projects.values() if p.builds_access_level == "private")
    seen = requests.get(f"{sim.url}/projects/{ref.id}", headers=USER).json()
    assert seen["builds_access_level"] == "private" and seen["jobs_enabled"] is False
    assert requests.get(f"{sim.url}/projects/{ref.id}/pipelines", headers=USER).status_code == 403
    admin = {"private-token": sim.token("admin")}
    assert requests.get(f"{sim.url}/projects/{ref.id}", headers=admin).json()["jobs_enabled"] is True
    guest = pid(sim, "acme/analytics/reporting/ops-reporting")
    assert requests.get(f"{sim.url}/projects/{guest}/pipelines", headers=USER).status_code == 403
    reporter = pid(sim, "acme/analytics/reporting/executive-dashboards")
    assert requests.get(f"{sim.url}/projects/{reporter}/pipelines", headers=USER).status_code == 200


def test_job_token_routes(sim):
    """A CI job token authenticates ``GET /job`` and, on recent versions, the pipeline routes of its own
    project and of projects that allow-list it (403 otherwise); everywhere else it is ignored and the
    request is anonymous: public projects only, 401 on members and namespaces."""
    job = {"JOB-TOKEN": sim.token("job")}
    me = requests.get(f"{sim.url}/job", headers=job)
    assert me.status_code == 200 and me.json()["status"] == "running"
    own = me.json()["pipeline"]["project_id"]
    assert requests.get(f"{sim.url}/projects/{own}/pipelines", headers=job).status_code == 200
    allowed = pid(sim, "acme/data-platform/ingestion/dbt-models")
    assert requests.get(f"{sim.url}/projects/{allowed}/pipelines", headers=job).status_code == 200
    other = pid(sim, "acme/analytics/reporting/executive-dashboards")
    r = requests.get(f"{sim.url}/projects/{other}/pipelines", headers=job)
    assert r.status_code == 403 and "Authentication by CI/CD job token not allowed" in r.json()["message"]
    public = ids(p for p in sim.truth("projects", token="admin", scope="instance") if p["visibility"] == "public")
    assert ids(get_all(f"{sim.url}/projects", job)) == public
    assert requests.get(f"{sim.url}/projects/{own}", headers=job).status_code == 404     # private: anonymous
    assert requests.get(f"{sim.url}/projects/{own}/jobs", headers=job).status_code == 404
    assert requests.get(f"{sim.url}/projects/{own}/members", headers=job).status_code == 401
    assert requests.get(f"{sim.url}/namespaces", headers=job).status_code == 401
    assert requests.get(f"{sim.url}/job", headers=USER).status_code == 401
    assert requests.get(f"{sim.url}/job", headers={"JOB-TOKEN": "nope"}).status_code == 401


def test_job_token_on_older_versions():
    """Before pipelines accepted job tokens (lib/api/ci/pipelines.rb without ``job_token_allowed``), a job
    token on ``/pipelines`` is an anonymous request: a private project answers 404."""
    with Simulator.instance(projects=20, other_projects=20, seed=3, rate_limit=None, endpoint_limits=None,
                            job_token_pipelines=False) as s:
        job = {"JOB-TOKEN": s.token("job")}
        own = requests.get(f"{s.url}/job", headers=job).json()["pipeline"]["project_id"]
        assert requests.get(f"{s.url}/projects/{own}/pipelines", headers=job).status_code == 404


def test_emails_hidden_from_non_admins(sim):
    """EE ``API::Entities::Member``: ``email`` only for admins (or the managing group's owners)."""
    labs = gid(sim, "acme-labs")
    rows = get_all(f"{sim.url}/groups/{labs}/members", USER)
    assert rows and all("email" not in m for m in rows)
    admin = get_all(f"{sim.url}/groups/{labs}/members", {"private-token": sim.token("admin")})
    assert all(m["email"] for m in admin)


def test_unknown_token(sim):
    """An unknown private token is 401 ``{"message":"401 Unauthorized"}`` on every route."""
    for path in ("/projects", "/groups", "/namespaces", "/user"):
        r = requests.get(f"{sim.url}{path}", headers={"private-token": "glpat-unknown"})
        assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}


@pytest.mark.parametrize("kind", ["user", "project_bot", "group_bot", "external"])
def test_truth_is_what_the_api_serves(sim, kind):
    """For each token, the truth of every stream equals what a default-scope walk of the API returns."""
    h = {"private-token": sim.token(kind)}
    got = {"projects": get_all(f"{sim.url}/projects", h, membership="true", statistics="true", order_by="id",
                               sort="asc"),
           "groups": get_all(f"{sim.url}/groups", h)}
    readable = {n["id"] for n in get_all(f"{sim.url}/namespaces", h)}
    assert readable <= {n["id"] for n in sim.truth("namespaces", token=kind)} | readable
    got["project_members"], got["pipelines"], got["jobs"], got["bridges"], got["effective_access"] = [], [], [], [], []
    ci_projects = []  # CI is walked for a sample of projects (test_ci.py covers the rest)
    for p in got["projects"]:
        base = f"{sim.url}/projects/{p['id']}"
        got["project_members"] += [dict(m, project_id=p["id"]) for m in get_all(f"{base}/members", h)]
        rows = get_all(f"{base}/members/all", h)
        truth_rows = [r for r in sim.truth("effective_access", token=kind) if r["project_id"] == p["id"]]
        assert sorted((r["id"], r["access_level"]) for r in rows) == sorted(
            (r["id"], r["access_level"]) for r in truth_rows)
        if len(ci_projects) >= 8 or requests.get(f"{base}/pipelines", headers=h).status_code != 200:
            continue
        ci_projects.append(p["id"])
        for pipe in get_all(f"{base}/pipelines", h) + get_all(f"{base}/pipelines", h, source="parent_pipeline"):
            got["pipelines"].append(requests.get(f"{base}/pipelines/{pipe['id']}", headers=h).json())
            got["jobs"] += [dict(j, project_id=p["id"], pipeline_id=pipe["id"])
                            for j in get_all(f"{base}/pipelines/{pipe['id']}/jobs", h, include_retried="true")]
            got["bridges"] += [dict(b, project_id=p["id"], pipeline_id=pipe["id"])
                               for b in get_all(f"{base}/pipelines/{pipe['id']}/bridges", h)]
    got["group_members"] = []
    for g in got["groups"]:
        r = requests.get(f"{sim.url}/groups/{g['id']}/members", headers=h, params={"per_page": 100})
        if r.status_code == 200:
            got["group_members"] += [dict(m, group_id=g["id"]) for m in r.json()]
    key = lambda r: (r.get("project_id", 0), r.get("group_id", 0), r.get("pipeline_id", 0), r["id"])  # noqa: E731
    for stream, rows in got.items():
        if stream == "effective_access":
            continue
        truth = sim.truth(stream, token=kind)
        if stream in ("pipelines", "jobs", "bridges"):
            truth = [r for r in truth if r["project_id"] in ci_projects]
        assert sorted(rows, key=key) == sorted(truth, key=key), stream


def test_truth_scopes(sim):
    """``scope="membership"`` (default) is ``membership=true`` and the default ``GET /groups``;
    ``scope="instance"`` is everything the token can see (no ``membership``, ``all_available=true``);
    an admin's membership scope is its own authorizations, but every group (``all_available`` defaults
    to true for admins, lib/api/groups.rb ``find_groups``)."""
    assert ids(sim.truth("projects", token="user", scope="instance")) == ids(get_all(f"{sim.url}/projects", USER))
    assert ids(sim.truth("groups", token="user", scope="instance")) == ids(
        get_all(f"{sim.url}/groups", USER, all_available="true"))
    admin = {"private-token": sim.token("admin")}
    assert sim.truth("projects", token="admin") == [] == get_all(f"{sim.url}/projects", admin, membership="true")
    assert ids(sim.truth("groups", token="admin")) == ids(get_all(f"{sim.url}/groups", admin))
    with pytest.raises(ValueError):
        sim.truth("projects", scope="everything")


def test_single_layout_admin_scopes():
    """In the single layout the token is the administrator who created the top-level groups (their
    Owner): its membership scope is every group project, personal projects are only in the instance scope."""
    with Simulator(projects=40, seed=5, rate_limit=None) as s:
        h = {"private-token": "sim-token"}
        mine = get_all(f"{s.url}/projects", h, membership="true")
        assert ids(mine) == ids(s.truth("projects"))
        assert all(p["namespace"]["kind"] == "group" for p in mine)
        everything = s.truth("projects", scope="instance")
        assert ids(everything) == ids(get_all(f"{s.url}/projects", h))
        assert any(p["namespace"]["kind"] == "user" for p in everything)
