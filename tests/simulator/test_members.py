"""Members, inherited members and invited-group members, on a small hand-built instance, over HTTP.

Sources (gitlabhq): lib/api/members.rb and lib/api/helpers/members_helpers.rb (``/members`` is direct
only, ``/members/all`` is ``find_all_members``); ``MembersFinder`` (app/finders/members_finder.rb:
direct, the project's group and its ancestors, groups shared into them, the groups the project is
shared with and their ancestors; one row per user, the ProjectMember row first, the level from
``project_authorizations``); ``GroupMembersFinder`` (app/finders/group_members_finder.rb:
``distinct_on_user_with_max_access_level``: highest level, then the group's own row, then
``member_role_id``, then ``expires_at DESC`` with NULLs first, then the oldest); ``Member.
with_group_group_sharing_access`` (``LEAST``); ``Gitlab::ProjectAuthorizations``; EE
``API::Entities::Member`` (``email`` for admins; ``created_by`` only when the source is accessible).

    corp (internal) ── data (internal) ── project P (internal)
    alliance (private) ── partners (private)      P shared with partners at Developer
    ext (public)                                  ext invited into corp at Reporter
"""

from __future__ import annotations

import pytest
import requests

from dataops_simulator import Simulator, Tenant

TOKENS = {"tok-vera": "vera", "tok-outsider": "outsider", "tok-admin": "admin", "tok-u4": "u4"}


@pytest.fixture(scope="module")
def world():
    t = Tenant.empty(seed=1, anchor=1_700_000_000)
    u = {name: t.new_user(name, org="Corp") for name in ("u1", "u2", "u3", "u4", "u5", "u6", "u7")}
    vera = t.new_user("vera", org="Corp", token_kind="vera")
    t.new_user("olga.outsider", org="Other", token_kind="outsider")
    t.principals["u4"] = u["u4"]
    corp = t.new_group("corp", "internal", org="Corp")
    data = t.new_group("data", "internal", corp)
    alliance = t.new_group("alliance", "private", org="Allies")
    partners = t.new_group("partners", "private", alliance)
    ext = t.new_group("ext", "public", org="Ext")
    p = t.new_project(data, "Project P", "internal")
    base = t.anchor_ms - 100 * 86_400_000
    t.add_member(p, u["u1"], 20, base, expires="2031-01-01")
    t.add_member(corp, u["u1"], 40, base)
    t.add_member(data, u["u2"], 30, base, expires="2030-01-01")
    t.add_member(corp, u["u2"], 10, base)
    t.add_member(partners, u["u3"], 40, base)
    t.add_member(alliance, u["u4"], 50, base)
    t.add_member(ext, u["u5"], 30, base)
    t.add_member(data, u["u6"], 30, base, expires="2031-05-05")
    t.add_member(corp, u["u6"], 30, base + 1)
    t.add_member(corp, u["u7"], 20, base, expires="2029-01-01")
    t.add_member(ext, u["u7"], 40, base + 1)
    t.add_member(corp, vera, 20, base)
    t.share_project(p.id, partners.id, 30, t=base)
    t.share_group(corp.id, ext.id, 20, t=base)
    with Simulator(tenant=t, tokens=(), job_tokens=(), token_kinds=TOKENS, rate_limit=None) as sim:
        yield sim, p, data, {k: v.id for k, v in u.items()} | {"vera": vera.id}


def get(sim, path, token, **params):
    r = requests.get(f"{sim.url}{path}", headers={"private-token": token}, params={"per_page": 100, **params})
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def by_user(rows, ids):
    names = {v: k for k, v in ids.items()}
    return {names.get(r["id"], r["username"]): r for r in rows}


def test_direct_members_only(world):
    """``/members`` lists the source's own rows (``source_members``), nothing inherited or invited."""
    sim, p, data, ids = world
    assert set(by_user(get(sim, f"/projects/{p.id}/members", "tok-vera"), ids)) == {"u1"}
    assert set(by_user(get(sim, f"/groups/{data.id}/members", "tok-vera"), ids)) == {"u2", "u6"}


def test_project_members_all(world):
    """``/projects/:id/members/all``: one row per user; the ProjectMember row wins whatever its level
    (u1: expires from the project row) and the level shown is the effective one (``project_authorizations``:
    u1 40 through ``corp``); invited members at ``LEAST(link, member)`` (u3: partners 40, link 30 -> 30);
    members of an invited group's ancestors count (u4: alliance Owner -> 30); members of a group shared
    into the project's group chain at ``LEAST`` (u5: ext 30, link 20 -> 20)."""
    sim, p, _data, ids = world
    rows = by_user(get(sim, f"/projects/{p.id}/members/all", "tok-vera"), ids)
    assert {k: r["access_level"] for k, r in rows.items()} == {
        "u1": 40, "u2": 30, "u3": 30, "u4": 30, "u5": 20, "u6": 30, "u7": 20, "vera": 20}
    assert rows["u1"]["expires_at"] == "2031-01-01"
    assert rows["u2"]["expires_at"] == "2030-01-01"


def test_invited_private_groups_hidden_from_non_members(world):
    """Invited groups the viewer cannot read are skipped unless the viewer is a project member
    (``project_invited_groups``: ``public_or_visible_to_user`` unless ``project.member?``)."""
    sim, p, _data, ids = world
    rows = by_user(get(sim, f"/projects/{p.id}/members/all", "tok-outsider"), ids)
    assert "u3" not in rows and "u4" not in rows and "u5" in rows and "u1" in rows


def test_group_members_all_dedup(world):
    """``/groups/:id/members/all``: the highest level wins (u2: 30 from ``data``); on a tie the group's own
    row wins over an ancestor's (u6: ``data``'s row, which expires, over ``corp``'s, which does not); then
    ``expires_at DESC`` with NULLs first (u7: the ext share's never-expiring row over corp's)."""
    sim, _p, data, ids = world
    rows = by_user(get(sim, f"/groups/{data.id}/members/all", "tok-vera"), ids)
    assert rows["u2"]["access_level"] == 30 and rows["u2"]["expires_at"] == "2030-01-01"
    assert rows["u6"]["access_level"] == 30 and rows["u6"]["expires_at"] == "2031-05-05"
    assert rows["u7"]["access_level"] == 20 and rows["u7"]["expires_at"] is None
    assert rows["u5"]["access_level"] == 20 and "u3" not in rows


def test_member_fields_depend_on_the_viewer(world):
    """EE ``Member``: ``email`` for admins only; ``created_by`` hidden for rows from an invited private
    group the viewer cannot access; ``member_role`` absent when not set (``expose_nil: false``)."""
    sim, p, _data, ids = world
    rows = by_user(get(sim, f"/projects/{p.id}/members/all", "tok-vera"), ids)
    assert all("email" not in r and "member_role" not in r for r in rows.values())
    assert "created_by" in rows["u1"] and "created_by" not in rows["u3"]
    admin = by_user(get(sim, f"/projects/{p.id}/members/all", "tok-admin"), ids)
    assert admin["u3"]["email"] == "u3@corp.example.com" and "created_by" in admin["u3"]


def test_shared_with_groups_visible_groups_only(world):
    """``Project#visible_group_links``: a share with a private group the viewer cannot read is not shown."""
    sim, p, _data, _ids = world
    assert get(sim, f"/projects/{p.id}", "tok-vera")["shared_with_groups"] == []
    shown = get(sim, f"/projects/{p.id}", "tok-admin")["shared_with_groups"]
    assert [(s["group_full_path"], s["group_access_level"]) for s in shown] == [("alliance/partners", 30)]


def test_effective_access_truth(world):
    """``truth("effective_access")``: the ``/members/all`` rows with the route of the level shown."""
    sim, p, _data, _ids = world
    rows = {r["username"]: r for r in sim.truth("effective_access", token="tok-vera")}
    assert {k: (r["access_level"], r["source"]) for k, r in rows.items()} == {
        "u1": (40, "inherited"), "u2": (30, "inherited"), "u3": (30, "shared"), "u4": (30, "shared"),
        "u5": (20, "shared"), "u6": (30, "inherited"), "u7": (20, "inherited"), "vera": (20, "inherited")}
    assert {r["project_id"] for r in rows.values()} == {p.id}
    served = get(sim, f"/projects/{p.id}/members/all", "tok-vera")
    assert sorted((r["id"], r["access_level"]) for r in served) == sorted(
        (r["id"], r["access_level"]) for r in rows.values())


def test_membership_routes_authorize_projects(world):
    """``project_authorizations`` for the invited users: ``membership=true`` lists P for u3/u4 routes too."""
    sim, p, _data, _ids = world
    assert [x["id"] for x in get(sim, "/projects", "tok-u4", membership="true")] == [p.id]
