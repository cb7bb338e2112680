"""Who may see what: one viewer's authorizations, computed as GitLab computes them.

A ``Viewer`` is the identity a request runs as: an administrator, a signed-in user (people, project
and group access-token bots, and the user behind a CI job token on the routes that accept it), or
anonymous. ``Access`` holds one viewer's tables for one version of the tenant:

- ``authorized``: project id -> access level, GitLab's ``project_authorizations``
  (gitlabhq ``lib/gitlab/project_authorizations.rb``): direct project memberships; personal projects
  (Owner); projects of every group in the recursive CTE, which holds the groups the user is a member
  of, the groups shared with a group the user is a *direct* member of (``LEAST(member, link)``), and
  the subgroups of any of those (``GREATEST``); and projects shared with a CTE group
  (``LEAST(cte level, link)``) unless the project's namespace has ``share_with_group_lock``. The
  highest level wins. ``GET /projects?membership=true`` is exactly this set.
- visible projects (``Project.public_or_visible_to_user``, ``Gitlab::VisibilityLevel.levels_for_user``):
  public and internal (signed-in, non-external users; bots are internal users) plus authorized.
- the default ``GET /groups`` set (``User#authorized_groups`` then ``GroupsFinder``'s
  ``self_and_ancestors``): direct groups and their descendants, the namespaces of authorized projects
  and their ancestors, groups shared with a direct group and their descendants, then every ancestor.
- ``max_member_access(group)`` (``Members::MembersWithParents``): memberships on the group and its
  ancestors, and direct memberships of groups invited into them at ``LEAST`` (the CTE's level).

Expired memberships and shares are not here: the tenant removes them when their date passes (as
GitLab's ``RemoveExpiredMembersWorker`` and ``RemoveExpiredGroupLinksWorker`` do).
"""

from __future__ import annotations

from .model import GUEST, NO_ACCESS, OWNER, REPORTER, Member, Namespace, Project, User


class Viewer:
    """The identity of a request. ``kind``: "admin", "user" or "anonymous"; ``job`` is set for a
    request authenticated by a CI job token."""

    __slots__ = ("job", "key", "kind", "user")

    def __init__(self, kind: str, user: User | None = None, job=None):
        self.kind, self.user, self.job = kind, user, job
        self.key = (kind, user.id if user is not None else None, job.id if job is not None else None)

    @property
    def admin(self) -> bool:
        return self.kind == "admin"

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def internal_ok(self) -> bool:
        """May see Internal things: any signed-in user who is not external (bots included)."""
        return self.user is not None and not self.user.external


ANONYMOUS = Viewer("anonymous")


def member_index(source) -> dict[int, Member]:
    idx = source.cache.get("member_index")
    if idx is None:
        idx = source.cache["member_index"] = {m.user.id: m for m in source.members or ()}
    return idx


class Access:
    """One viewer's authorization tables (see the module docstring). Built lazily, per tenant version."""

    def __init__(self, tenant, viewer: Viewer):
        self.t, self.viewer = tenant, viewer
        self._authorized: dict[int, int] | None = None
        self._cte: dict[int, int] | None = None
        self._direct_groups: dict[int, int] | None = None
        self._groups_default: set[int] | None = None
        self._visible_groups: dict[int, bool] = {}

    # -- the user's own rows -----------------------------------------------------------------

    def direct_groups(self) -> dict[int, int]:
        """Groups with a direct membership of the viewer (Guest or higher): group id -> level."""
        if self._direct_groups is None:
            out: dict[int, int] = {}
            u = self.viewer.user
            if u is not None:
                for g in self.t.groups.values():
                    m = self.t.member_of(g, u)
                    if m is not None and m.access_level >= GUEST:
                        out[g.id] = m.access_level
            self._direct_groups = out
        return self._direct_groups

    def cte(self) -> dict[int, int]:
        """The recursive CTE of ``Gitlab::ProjectAuthorizations``: group id -> level."""
        if self._cte is None:
            seeds = dict(self.direct_groups())
            for gid, level in list(self.direct_groups().items()):
                for share in self.t.groups[gid].shared_groups:
                    target = share.target
                    seeds[target.id] = max(seeds.get(target.id, 0), min(level, share.access_level))
            out: dict[int, int] = {}
            if seeds:
                for g in self.t.groups_by_depth():
                    best = seeds.get(g.id, 0)
                    if g.parent is not None:
                        best = max(best, out.get(g.parent.id, 0))
                    if best:
                        out[g.id] = best
            self._cte = out
        return self._cte

    def authorized(self) -> dict[int, int]:
        """``project_authorizations`` of the viewer: project id -> highest access level."""
        if self._authorized is None:
            out: dict[int, int] = {}
            u = self.viewer.user
            t = self.t
            if u is not None:
                for pid in t.member_project_ids(u):
                    p = t.projects.get(pid)
                    m = t.member_of(p, u) if p is not None else None
                    if m is not None:
                        out[pid] = max(out.get(pid, 0), m.access_level)
                if u.namespace is not None:
                    for pid in u.namespace.project_ids:
                        out[pid] = OWNER
                cte = self.cte()
                for gid, level in cte.items():
                    g = t.groups[gid]
                    for pid in g.project_ids:
                        out[pid] = max(out.get(pid, 0), level)
                    for share in g.shared_projects:
                        p = share.target
                        if p.id in t.projects and not p.namespace.share_with_group_lock:
                            out[p.id] = max(out.get(p.id, 0), min(level, share.access_level))
            self._authorized = out
        return self._authorized

    # -- projects ----------------------------------------------------------------------------

    def level(self, p: Project) -> int:
        """The viewer's project access level (0 for none; admins count as Owner for statistics)."""
        if self.viewer.admin:
            return OWNER
        return self.authorized().get(p.id, NO_ACCESS)

    def visibility_ok(self, visibility: str) -> bool:
        if visibility == "public":
            return True
        return visibility == "internal" and self.viewer.internal_ok

    def can_read_project(self, p: Project) -> bool:
        if self.viewer.admin:
            return True
        return self.visibility_ok(p.visibility) or p.id in self.authorized()

    def visible_projects(self) -> list[Project]:
        """``GET /projects`` without ``membership``: public, internal (signed-in, non-external) and authorized."""
        t = self.t
        if self.viewer.admin:
            return list(t.projects.values())
        auth = self.authorized()
        return [p for p in t.projects.values() if p.id in auth or self.visibility_ok(p.visibility)]

    def membership_projects(self) -> list[Project]:
        """``GET /projects?membership=true``: the authorized projects only (admins: their own too)."""
        t = self.t
        auth = self.authorized()
        return [t.projects[i] for i in sorted(auth) if i in t.projects]

    def can_read_builds(self, p: Project) -> bool:
        """``read_build``: CI/CD enabled, and everyone who can see the project ("public pipelines" on,
        the default) or members (Reporter and up if public pipelines are off); members only when CI/CD
        is "private". See ``doc/ci/pipelines/settings.md`` (Change which users can view your pipelines)."""
        if p.builds_access_level == "disabled":
            return False
        if self.viewer.admin:
            return True
        level = self.authorized().get(p.id, NO_ACCESS)
        if not p.public_jobs:
            return level >= REPORTER
        if level >= GUEST:
            return True
        return p.builds_access_level == "enabled" and self.visibility_ok(p.visibility)

    def jobs_enabled(self, p: Project) -> bool:
        """``feature_available?(:builds, current_user)``: "private" CI/CD looks disabled to non-members."""
        if p.builds_access_level == "disabled":
            return False
        if p.builds_access_level == "enabled" or self.viewer.admin:
            return True
        return self.authorized().get(p.id, NO_ACCESS) >= GUEST

    # -- groups ------------------------------------------------------------------------------

    def max_member_access(self, g: Namespace) -> int:
        if self.viewer.user is None:
            return NO_ACCESS
        return self.cte().get(g.id, NO_ACCESS)

    def has_projects(self, g: Namespace) -> bool:
        """``GroupPolicy`` ``has_projects``: a project the viewer can see in the group's hierarchy."""
        t = self.t
        for sub in [g, *g.descendants()]:
            for pid in sub.project_ids:
                p = t.projects.get(pid)
                if p is not None and self.can_read_project(p):
                    return True
        return False

    def can_read_group(self, g: Namespace) -> bool:
        if self.viewer.admin or self.visibility_ok(g.visibility):
            return True
        found = self._visible_groups.get(g.id)
        if found is None:
            found = self._visible_groups[g.id] = self.max_member_access(g) > NO_ACCESS or self.has_projects(g)
        return found

    def groups_default(self) -> set[int]:
        """The default ``GET /groups`` set for this viewer (see the module docstring)."""
        if self._groups_default is None:
            t = self.t
            if self.viewer.admin:
                self._groups_default = set(t.groups)
            elif self.viewer.user is None:
                self._groups_default = {g.id for g in t.groups.values() if g.visibility == "public"}
            else:
                found: set[int] = set()
                direct = self.direct_groups()
                for gid in direct:
                    g = t.groups[gid]
                    found.add(gid)
                    found.update(d.id for d in g.descendants())
                    for share in g.shared_groups:
                        found.add(share.target.id)
                        found.update(d.id for d in share.target.descendants())
                for pid in self.authorized():
                    p = t.projects.get(pid)
                    if p is not None and p.namespace.kind == "group":
                        found.update(a.id for a in p.namespace.self_and_ancestors())
                for gid in list(found):
                    found.update(a.id for a in t.groups[gid].self_and_ancestors())
                self._groups_default = {gid for gid in found if gid in t.groups}
        return self._groups_default

    def groups_all_available(self) -> set[int]:
        out = set(self.groups_default())
        out.update(g.id for g in self.t.groups.values() if self.visibility_ok(g.visibility))
        return out

    def group_members_status(self, g: Namespace) -> int:
        """200, 403 or 404 for ``GET /groups/:id/members(/all)`` (``read_group_member``)."""
        if not self.can_read_group(g):
            return 404
        if not self.viewer.admin and g.visibility == "private" and self.max_member_access(g) == NO_ACCESS:
            return 403
        return 200

    # -- namespaces --------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        """``GET /namespaces``: admins all; others their own namespace plus direct-membership groups."""
        t = self.t
        if self.viewer.admin:
            return [t.namespaces[i] for i in sorted(t.namespaces)]
        u = self.viewer.user
        ids = set(self.direct_groups())
        if u is not None and u.namespace is not None:
            ids.add(u.namespace.id)
        return [t.namespaces[i] for i in sorted(ids) if i in t.namespaces]

    def can_read_namespace(self, ns: Namespace) -> bool:
        """``read_namespace_via_membership`` (``check_namespace_access``, lib/api/helpers.rb)."""
        if self.viewer.admin:
            return True
        if ns.kind == "user":
            return self.viewer.user is not None and ns.user is self.viewer.user
        return self.max_member_access(ns) > NO_ACCESS

    def owns(self, ns: Namespace) -> bool:
        """``admin_group`` / ``read_billing``: group Owner (any route), the namespace's user, or admin."""
        if self.viewer.admin:
            return True
        if ns.kind == "user":
            return self.viewer.user is not None and ns.user is self.viewer.user
        return self.max_member_access(ns) >= OWNER


# --- authorization from the project's side ----------------------------------------------------


def direct_level(tenant, source, user: User) -> int:
    return tenant.direct_level(source, user)


def cte_level(tenant, user: User, g: Namespace) -> int:
    """The CTE level of ``user`` for group ``g``: memberships on g and its ancestors, and direct
    memberships of groups invited into them at LEAST."""
    best = NO_ACCESS
    for a in g.self_and_ancestors():
        best = max(best, direct_level(tenant, a, user))
        for share in a.invited:
            lvl = direct_level(tenant, share.group, user)
            if lvl:
                best = max(best, min(lvl, share.access_level))
    return best


def authorization(tenant, user: User, p: Project) -> int:
    """``project_authorizations.access_level`` of ``user`` on ``p`` (the same rules as Access.authorized)."""
    best = direct_level(tenant, p, user)
    if p.namespace.kind == "user":
        if p.namespace.user is user:
            best = OWNER
    else:
        best = max(best, cte_level(tenant, user, p.namespace))
    if not p.namespace.share_with_group_lock:
        for share in p.shares:
            lvl = cte_level(tenant, user, share.group)
            if lvl:
                best = max(best, min(lvl, share.access_level))
    return best


def project_members_all(tenant, access: Access, p: Project) -> list[tuple[Member, int, str]]:
    """``GET /projects/:id/members/all``: (row, access level shown, route) per user.

    ``MembersFinder#execute(include_relations: [:inherited, :direct, :invited_groups,
    :shared_into_ancestors])`` (app/finders/members_finder.rb): direct project members; members of the
    project's group and its ancestors; direct members of groups invited into that group or its
    ancestors; members of the groups the project is shared with and of their ancestors. Invited groups
    the viewer cannot see are skipped unless the viewer is a project member. One row per user: the
    ProjectMember row if there is one; the level shown is the user's ``project_authorizations`` level
    (``COALESCE(project_authorizations.access_level, ...)``). Among several group rows GitLab's ORDER BY
    has no tie-breaker; here the highest level, then inherited before shared, then the oldest row.
    The route ("direct", "inherited", "shared") names where the shown level comes from.
    """
    t = tenant
    rows: list[tuple[Member, str, int]] = [(m, "direct", m.access_level) for m in t.members_source(p)]
    viewer_member = access.viewer.admin or access.level(p) > NO_ACCESS
    if p.namespace.kind == "group":
        chain = p.namespace.self_and_ancestors()
        for g in chain:
            rows += [(m, "inherited", m.access_level) for m in t.members_source(g)]
        group_member = access.viewer.admin or access.max_member_access(p.namespace) > NO_ACCESS
        for g in chain:
            for share in g.invited:
                if group_member or access.can_read_group(share.group):
                    rows += [(m, "shared", min(m.access_level, share.access_level))
                             for m in t.members_source(share.group)]
    locked = p.namespace.share_with_group_lock
    for share in p.shares:
        for g in share.group.self_and_ancestors():
            if viewer_member or access.can_read_group(g):
                rows += [(m, "shared", 0 if locked else min(m.access_level, share.access_level))
                         for m in t.members_source(g)]
    best: dict[int, tuple] = {}
    rank = {"direct": 0, "inherited": 1, "shared": 2}
    for m, route, lvl in rows:
        key = (0 if route == "direct" else 1, -lvl, rank[route], m.created_ms)
        cur = best.get(m.user.id)
        if cur is None or key < cur[0]:
            best[m.user.id] = (key, m, route, lvl)
    out = []
    for uid in sorted(best):
        _, m, route, lvl = best[uid]
        shown = authorization(t, m.user, p) or lvl
        out.append((m, shown, _route_of(t, m.user, p, shown, route)))
    return out


def _route_of(t, user: User, p: Project, level: int, fallback: str) -> str:
    """Which route gives ``user`` the level ``level`` on ``p``: direct, else inherited, else shared."""
    if direct_level(t, p, user) >= level or (p.namespace.kind == "user" and p.namespace.user is user):
        return "direct"
    if p.namespace.kind == "group":
        for a in p.namespace.self_and_ancestors():
            if direct_level(t, a, user) >= level:
                return "inherited"
    if level == 0:
        return fallback
    return "shared"


def group_members_all(tenant, access: Access, g: Namespace) -> list[tuple[Member, int]]:
    """``GET /groups/:id/members/all``: (row, access level) per user.

    ``GroupMembersFinder#execute(include_relations: [:inherited, :direct, :shared_from_groups])``
    (app/finders/group_members_finder.rb): direct members, members of every ancestor, and direct members
    of groups invited into the group or an ancestor at ``LEAST(link, member)`` (``Member.
    with_group_group_sharing_access``), those invited groups filtered to the ones the viewer can see
    unless the viewer is a member. One row per user (``distinct_on_user_with_max_access_level``): the
    highest level; on a tie the group's own row, then ``member_role_id ASC``, then ``expires_at DESC``
    (NULL first: a never-expiring row wins), then the oldest ``created_at``.
    """
    t = tenant
    rows: list[tuple[Member, int]] = []
    chain = g.self_and_ancestors()
    for a in chain:
        rows += [(m, m.access_level) for m in t.members_source(a)]
    is_member = access.viewer.admin or access.max_member_access(g) > NO_ACCESS
    for a in chain:
        for share in a.invited:
            if is_member or access.can_read_group(share.group):
                rows += [(m, min(m.access_level, share.access_level)) for m in t.members_source(share.group)]
    best: dict[int, tuple] = {}
    for m, lvl in rows:
        role = m.member_role["id"] if m.member_role else float("inf")
        # expires_at DESC with NULLs first: None < any date when negated through this tuple
        exp = (0, "") if m.expires is None else (1, _neg_date(m.expires))
        key = (-(lvl + (1 if m.source is g else 0)), role, exp, m.created_ms)
        cur = best.get(m.user.id)
        if cur is None or key < cur[0]:
            best[m.user.id] = (key, m, lvl)
    return [(best[uid][1], best[uid][2]) for uid in sorted(best)]


def _neg_date(date: str) -> str:
    """A string that sorts in the reverse order of the ISO date ``date``."""
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in date)
