"""The simulated instance: its data, its clock, its mutations.

Two layouts share this class:

- ``Tenant(projects=N, seed=S)``: the single-tenant layout the older tests use. One customer's groups,
  users and projects; the token is an administrator (the user who created the groups, Owner of every
  top-level group). Members, pipelines and jobs are generated lazily per project from generators
  seeded with ``(seed, purpose, id)``, so the order of requests never changes what they contain.
- ``Tenant.instance(...)`` (``instance.py``): a shared DataOps.live instance with several customers,
  the vendor's reference projects, memberships, shares and access-token bots, built eagerly.

Everything is derived from ``seed`` and ``anchor`` (default: today's UTC midnight): history is spread
backwards from the anchor. The tenant's ``clock_ms`` is the instant the CI state has been played to
(the anchor at first; ``advance_day`` moves it); the older mutations (``create_projects``,
``touch_project``, ``add_pipeline``...) stamp the real clock, never earlier than anything before.

Behaviour that is GitLab's holds in both layouts: ``last_activity_at`` moves only with events and at
most once an hour (``Event#reset_project_activity``), pipelines never move it, archive/rename/
transfer/visibility changes move ``updated_at``, an old project path redirects, and so on.

This module owns data only: no HTTP, no query parameters, no pagination (``server.py``). Public
methods are thread-safe (one re-entrant lock per tenant).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict

from . import ci as ci_mod
from .access import ANONYMOUS, Access, Viewer, member_index
from .model import OWNER, VISIBILITY, Member, Namespace, Project, Share, User
from .records import Records
from .truth import truth as truth_of
from .util import DAY_MS, HOUR_MS, YEAR_MS, iso_date, now_ms, pick, slug, to_ms
from .vocab import (
    ACCESS_LEVELS,
    ACCESS_WEIGHTS,
    COMPANIES,
    DESCRIPTIONS,
    DOMAINS,
    FIRST,
    JOB_TITLES,
    KINDS,
    LAST,
    LEVEL2,
    LEVEL3,
    LOCATIONS,
    TOPICS,
)

MEMBER_ROLE = {"id": 7, "group_id": None, "name": "Data Steward",
               "description": "Reporter who can also manage CI/CD variables", "base_access_level": 20}


def clamp_visibility(wanted: str, ns: Namespace) -> str:
    """A project or subgroup is never more visible than the group holding it."""
    if ns.kind == "user":
        return wanted
    return wanted if VISIBILITY[wanted] <= VISIBILITY[ns.visibility] else ns.visibility


class Tenant(Records):
    """A deterministic DataOps.live instance. See the module docstring."""

    CI_DISABLED_SHARE = 0.05   # projects with CI/CD turned off: pipelines and jobs answer 403
    NOT_FOUND_SHARE = 0.02     # (single layout) projects listed but whose children answer 404
    CHILD_CACHE_PROJECTS = 2000  # projects whose generated pipelines/jobs stay cached (see ci())

    def __init__(self, projects: int = 200, seed: int = 1, pipelines_per_project=(0, 6), jobs_per_pipeline=(1, 4),
                 anchor=None, child_pipelines: float = 0.0, retries: float = 0.06):
        self.init_common(seed, pipelines_per_project, jobs_per_pipeline, anchor, child_pipelines, retries)
        self.layout = "single"
        self._generate(int(projects))
        self.default_principal = "admin"

    def init_common(self, seed, pipelines_per_project, jobs_per_pipeline, anchor, child_pipelines, retries):
        self.seed = int(seed)
        lo, hi = tuple(jobs_per_pipeline)
        if not 1 <= hi <= 99:
            raise ValueError("jobs_per_pipeline must lie within 1..99")
        self.ci_config = ci_mod.CIConfig(tuple(pipelines_per_project), (max(1, lo), hi), child_pipelines, retries)
        self.pipelines_per_project = self.ci_config.pipelines_per_project
        self.jobs_per_pipeline = self.ci_config.jobs_per_pipeline
        self.anchor_ms = to_ms(anchor)
        self.clock_ms = self.anchor_ms
        self.stamp_ms = self.anchor_ms
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation; caches key on it
        self.users: dict[int, User] = {}
        self.namespaces: dict[int, Namespace] = {}   # groups and user namespaces
        self.groups: dict[int, Namespace] = {}
        self.projects: dict[int, Project] = {}
        self.redirects: dict[str, int] = {}          # old project full path -> project id (redirect_routes)
        self.principals: dict[str, object] = {}      # token kind -> User (or ci.Job for "job")
        self.project_by_path: dict[str, int] = {}
        self.group_by_path: dict[str, int] = {}
        self.child_cache: OrderedDict[int, None] = OrderedDict()  # FIFO of projects with generated CI
        self.pinned: set[int] = set()  # projects whose CI was changed: never regenerated
        self._access: dict = {}
        self._derived: dict = {}        # per-version indexes (groups by depth, user -> member projects)
        self.highest_project_id = 0
        self.fork_pool: list[int] = []
        self.extra_scripts: dict[int, list] = {}
        self.user_list: list[User] = []
        self.group_list: list[Namespace] = []     # where projects created without a namespace go
        self.group_weights: list[int] = []
        self._user_ns_by_created: list[Namespace] = []
        self._user_ns_created: list[int] = []
        self.days = 0                             # days advanced (activity.advance_day)
        self.events: list[tuple[int, str, int, bool]] = []  # (project id, action, time, moved last_activity_at)
        self.admin: User | None = None

    # -- building by hand (tests) ------------------------------------------------------------

    @classmethod
    def empty(cls, seed: int = 1, anchor=None, pipelines_per_project=(0, 0), jobs_per_pipeline=(1, 4)) -> Tenant:
        """A shared-instance tenant with nothing but an administrator; add to it with ``new_user``,
        ``new_group``, ``new_project``, ``add_member``, ``share_project`` and ``share_group``."""
        t = cls.__new__(cls)
        t.init_common(seed, pipelines_per_project, jobs_per_pipeline, anchor, 0.0, 0.0)
        t.layout = "instance"
        t.default_principal = "admin"
        admin = User(1, "root", "Administrator", "active", t.anchor_ms - 6 * YEAR_MS, False, "", "", kind="admin",
                     admin=True, org="instance")
        t.users[1] = admin
        t.admin = admin
        t.principals["admin"] = admin
        t.register_namespace(Namespace("user", admin.name, admin.username, None, admin.created_ms, user=admin), 100)
        return t

    def _next_namespace_id(self) -> int:
        return max(self.namespaces, default=100) + 1

    def new_user(self, username: str, org: str | None = None, kind: str = "human", external: bool = False,
                 token_kind: str | None = None) -> User:
        """A user (with a personal namespace); ``token_kind`` names a token kind that runs as them."""
        with self.lock:
            uid = max(self.users, default=1000) + 1
            u = User(uid, username, username.replace(".", " ").title(), "active", self.anchor_ms - YEAR_MS,
                     kind in ("project_bot", "group_bot"), "", "", kind=kind, org=org, external=external)
            self.users[uid] = u
            ns = Namespace("user", u.name, username, None, u.created_ms, user=u, org=org)
            ns.members = []
            self.register_namespace(ns, self._next_namespace_id())
            if token_kind:
                self.principals[token_kind] = u
            self.mutated()
            return u

    def new_group(self, path: str, visibility: str = "private", parent: Namespace | None = None,
                  org: str | None = None, name: str | None = None) -> Namespace:
        with self.lock:
            created = (parent.created_ms if parent else self.anchor_ms - 2 * YEAR_MS) + DAY_MS
            g = Namespace("group", name or path.replace("-", " ").title(), path, parent, created,
                          clamp_visibility(visibility, parent) if parent else visibility, "",
                          org=org or (parent.org if parent else None))
            g.members = []
            if parent is not None:
                parent.children.append(g)
            self.register_namespace(g, self._next_namespace_id())
            self.mutated()
            return g

    def new_project(self, namespace: Namespace, name: str, visibility: str = "private",
                    last_activity_ms: int | None = None) -> Project:
        with self.lock:
            pid = max(max(self.projects, default=10_000), self.highest_project_id) + 1
            rng = self.rng(2, pid)
            last = self.anchor_ms - DAY_MS if last_activity_ms is None else last_activity_ms
            p = self._add_project(rng, pid, self.anchor_ms - YEAR_MS, last, False, False, namespace)
            p.name, p.path = name, slug(name)
            self.project_by_path.pop(next(k for k, v in self.project_by_path.items() if v == pid))
            self.project_by_path[p.path_with_namespace] = pid
            p.visibility = clamp_visibility(visibility, namespace)
            p.archived = False
            p.empty_repo = False
            p.default_branch = "main"
            p.members = []
            self.highest_project_id = pid
            self.drop_group_json()
            self.mutated()
            return p

    # -- single-tenant generation ------------------------------------------------------------

    def _generate(self, n_projects: int) -> None:
        rng = self.rng(0)
        anchor = self.anchor_ms
        admin = User(1, "root", "Administrator", "active", anchor - 6 * YEAR_MS, False, "", "", kind="admin",
                     admin=True)
        self.admin = admin
        self.principals["admin"] = admin
        n_users = max(8, n_projects // 3)
        uid = 1000
        used_usernames = set()
        user_namespaces = [Namespace("user", admin.name, admin.username, None, admin.created_ms, "private", user=admin)]
        for i in range(n_users):
            uid += rng.randint(1, 9)
            bot = rng.random() < 0.04
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if bot:
                username = f"project_{rng.randint(1000, 99999)}_bot_{rng.getrandbits(32):08x}"
                name = "DataOps Service Bot"
            else:
                base = slug(f"{first}.{last}").replace("-", ".") or f"user{i}"
                username = base
                k = 2
                while username in used_usernames:
                    username = f"{base}{k}"
                    k += 1
                name = f"{first} {last}"
            used_usernames.add(username)
            state = "active" if rng.random() > 0.04 else rng.choice(("blocked", "deactivated"))
            created = anchor - 5 * YEAR_MS + int(rng.random() * (5 * YEAR_MS - 30 * DAY_MS))
            u = User(uid, username, name, state, created, bot, rng.choice(LOCATIONS), rng.choice(JOB_TITLES),
                     kind="project_bot" if bot else "human")
            self.users[uid] = u
            user_namespaces.append(Namespace("user", name, username, None, created, "private", user=u))
        self.users[admin.id] = admin

        # the group tree: all groups exist before the first project (projects span 4 years)
        n_top = max(2, round(n_projects / 60))
        groups = []
        for t in range(n_top):
            company = COMPANIES[t % len(COMPANIES)]
            name = company if t < len(COMPANIES) else f"{company} {t // len(COMPANIES) + 1}"
            path = slug(name)
            created = anchor - 5 * YEAR_MS + int(rng.random() * 0.35 * YEAR_MS)
            # the second top-level group is public, so anonymous callers see something
            visibility = "public" if t == 1 else rng.choice(("private", "private", "internal"))
            top = Namespace("group", name, path, None, created, visibility, f"{name} data products on DataOps.live")
            groups.append(top)
            for name2, path2 in rng.sample(LEVEL2, rng.randint(2, 4)):
                g2 = Namespace("group", name2, path2, top, top.created_ms + rng.randint(1, 60) * DAY_MS,
                               top.visibility, f"{name2} at {name}")
                top.children.append(g2)
                groups.append(g2)
                for name3, path3 in rng.sample(LEVEL3, rng.choice((0, 0, 1, 2, 3))):
                    g3 = Namespace("group", name3, path3, g2, g2.created_ms + rng.randint(1, 60) * DAY_MS,
                                   g2.visibility, f"{name3} ({name2}, {name})")
                    g2.children.append(g3)
                    groups.append(g3)

        # namespace ids follow creation time, shared by groups and user namespaces
        nid = 100
        for ns in sorted(groups + user_namespaces, key=lambda x: x.created_ms):
            nid += rng.randint(1, 7)
            self.register_namespace(ns, nid)
        self.group_list = groups
        self.group_weights = [1 if g.parent is None else 3 for g in groups]
        people = [ns for ns in user_namespaces if ns.user is not admin]
        self._user_ns_by_created = sorted(people, key=lambda x: x.created_ms)
        self._user_ns_created = [x.created_ms for x in self._user_ns_by_created]
        self.user_list = sorted((u for u in self.users.values() if not u.admin), key=lambda u: u.id)

        created_times = sorted(anchor - 4 * YEAR_MS + int(rng.random() * (4 * YEAR_MS - HOUR_MS))
                               for _ in range(n_projects))
        special = rng.sample(range(n_projects), round(n_projects * (self.CI_DISABLED_SHARE + self.NOT_FOUND_SHARE)))
        n_ci = round(n_projects * self.CI_DISABLED_SHARE)
        ci_disabled, not_found = set(special[:n_ci]), set(special[n_ci:])
        pid = 10_000
        for i, created in enumerate(created_times):
            pid += rng.randint(1, 5)
            self._add_project(rng, pid, created, None, i in ci_disabled, i in not_found)
        self.fork_pool = [p.id for p in list(self.projects.values())[:64] if p.namespace.kind == "group"]

    def register_namespace(self, ns: Namespace, nid: int) -> None:
        ns.id = nid
        self.namespaces[nid] = ns
        if ns.kind == "group":
            self.groups[nid] = ns
            self.group_by_path[ns.full_path] = nid
        else:
            ns.user.namespace_id = nid
            ns.user.namespace = ns

    def _add_project(self, rng, pid, created, last_activity, ci_disabled, not_found, ns=None) -> Project:
        anchor = self.anchor_ms
        p = Project()
        p.id, p.created_ms, p.ci_disabled, p.not_found = pid, created, ci_disabled, not_found
        if ns is None and rng.random() < 0.15:
            older = bisect_left(self._user_ns_created, created)  # user namespaces that existed then
            if older:
                ns = self._user_ns_by_created[rng.randrange(older)]
        if ns is None:
            ns = rng.choices(self.group_list, weights=self.group_weights)[0]
        p.namespace = ns
        domain, kind = rng.choice(DOMAINS), rng.choice(KINDS)
        name = f"{domain} {kind}"
        path = slug(name)
        taken = {self.projects[x].path for x in ns.project_ids}
        if path in taken:
            k = 2
            while f"{path}-{k}" in taken:
                k += 1
            name, path = f"{name} {k}", f"{path}-{k}"
        p.name, p.path = name, path
        p.archived = rng.random() < 0.10
        p.visibility = clamp_visibility(pick(rng, (("private", 60), ("internal", 30), ("public", 10))), ns)
        p.description = rng.choice(DESCRIPTIONS).format(name=name, domain=domain, kind=kind)
        p.topics = sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 2, 2, 3))))
        p.empty_repo = rng.random() < 0.02
        p.default_branch = None if p.empty_repo else pick(rng, (("main", 80), ("master", 15), ("develop", 5)))
        pool = self.user_list or list(self.users.values())
        p.creator_id = ns.user.id if ns.kind == "user" else rng.choice(pool).id
        p.builds_access_level = "disabled" if ci_disabled else "enabled"
        if last_activity is None:
            # a long tail of stale projects: half active this month, a quarter this year, the rest older
            r = rng.random()
            if p.archived:
                r = 0.5 + r / 2
            if r < 0.5:
                last_activity = anchor - int(rng.random() * 30 * DAY_MS)
            elif r < 0.75:
                last_activity = anchor - 30 * DAY_MS - int(rng.random() * 335 * DAY_MS)
            else:
                last_activity = anchor - 365 * DAY_MS - int(rng.random() * 3 * YEAR_MS)
            last_activity = min(anchor, max(last_activity, created + int(rng.random() * DAY_MS)))
            updated = (last_activity if rng.random() < 0.4
                       else min(anchor, last_activity + int(rng.random() * 2 * HOUR_MS)))
        else:
            updated = last_activity
        p.last_activity_ms, p.updated_ms = last_activity, updated
        p.gen_last_activity_ms = last_activity
        p.job_token_allowlist = {pid}
        self.projects[pid] = p
        ns.project_ids.append(pid)
        self.project_by_path[p.path_with_namespace] = pid
        self.redirects.pop(p.path_with_namespace, None)
        return p

    # -- look-ups ----------------------------------------------------------------------------

    def project(self, ref) -> Project | None:
        """A project by id (int or digit string) or by its current full path."""
        with self.lock:
            if isinstance(ref, str) and not ref.isdigit():
                ref = self.project_by_path.get(ref)
            return self.projects.get(int(ref)) if ref is not None else None

    def group(self, ref) -> Namespace | None:
        with self.lock:
            if isinstance(ref, str) and not ref.isdigit():
                ref = self.group_by_path.get(ref)
            return self.groups.get(int(ref)) if ref is not None else None

    def project_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.projects)

    @property
    def ci_disabled_ids(self) -> frozenset[int]:
        """Projects whose /pipelines and /jobs answer 403 (CI/CD disabled)."""
        with self.lock:
            return frozenset(p.id for p in self.projects.values() if p.builds_access_level == "disabled")

    @property
    def not_found_ids(self) -> frozenset[int]:
        """(single layout) Projects listed by /projects whose members, pipelines and jobs answer 404."""
        with self.lock:
            return frozenset(p.id for p in self.projects.values() if p.not_found)

    def child_status(self, project_id: int, child: str) -> int:
        """HTTP status of /projects/:id/<child> (members, pipelines or jobs) for the default principal."""
        p = self.projects.get(project_id)
        if p is None or p.not_found:
            return 404
        if child in ("pipelines", "jobs") and not self.access(self.viewer()).can_read_builds(p):
            return 403
        return 200

    # -- viewers and their access ------------------------------------------------------------

    def viewer(self, kind: str | None = None) -> Viewer:
        """The viewer a token kind runs as ("admin", "user", "project_bot", "group_bot", "external",
        "job", "anonymous"); default: this layout's default token."""
        kind = kind or self.default_principal
        if kind == "anonymous":
            return ANONYMOUS
        who = self.principals.get(kind)
        if who is None:
            raise ValueError(f"no {kind!r} token in this tenant; known: {', '.join(sorted(self.principals))}")
        if isinstance(who, ci_mod.Job):
            return Viewer("user", who.user, job=who)
        assert isinstance(who, User)
        return Viewer("admin" if who.admin else "user", who)

    def access(self, viewer: Viewer) -> Access:
        key = (self.version, viewer.key)
        found = self._access.get(key)
        if found is None:
            with self.lock:
                if len(self._access) > 64:
                    self._access.clear()
                found = self._access[key] = Access(self, viewer)
        return found

    def members_source(self, source) -> list[Member]:
        """The direct members of a project or group (generated on first use in the single layout)."""
        members = source.members
        if members is None:
            with self.lock:
                if source.members is None:
                    source.members = self._generate_members(source)
                members = source.members
        return members

    def member_of(self, source, user: User) -> Member | None:
        return member_index_of(self, source).get(user.id)

    def direct_level(self, source, user: User) -> int:
        """``user``'s direct membership level on a project or group (0: none)."""
        if source.members is None and self.layout == "single" and user is self.admin:
            # the single layout's administrator is never drawn into generated members: it is only
            # the creator (Owner) of every top-level group, so no generation is needed to know
            return OWNER if isinstance(source, Namespace) and source.parent is None else 0
        m = member_index_of(self, source).get(user.id)
        return m.access_level if m is not None else 0

    def member_project_ids(self, user: User) -> set[int]:
        """Projects where ``user`` has a direct membership."""
        idx = self._derived_get("user_projects", self._build_user_projects)
        return idx.get(user.id, set())

    def _build_user_projects(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for p in list(self.projects.values()):
            for m in self.members_source(p):
                out.setdefault(m.user.id, set()).add(p.id)
        return out

    def groups_by_depth(self) -> list[Namespace]:
        return self._derived_get("by_depth", lambda: sorted(self.groups.values(), key=lambda g: (g.depth(), g.id)))

    def _derived_get(self, name, build):
        key = (name, self.version)
        found = self._derived.get(key)
        if found is None:
            with self.lock:
                found = self._derived.get(key)
                if found is None:
                    self._derived = {k: v for k, v in self._derived.items() if k[1] == self.version}
                    found = self._derived[key] = build()
        return found

    # -- single-layout members ---------------------------------------------------------------

    def _generate_members(self, source) -> list[Member]:
        if self.layout != "single":
            return []
        if isinstance(source, Project):
            rng = self.rng(10, source.id)
            owner = source.namespace.user if source.namespace.kind == "user" else None
            count = rng.randint(0, 2) if owner else rng.randint(0, 6)
            return self._make_members(rng, source, count, source.created_ms, owner)
        rng = self.rng(11, source.id)
        creator = self.admin if source.parent is None else None
        return self._make_members(rng, source, rng.randint(1, 10), source.created_ms, creator)

    def _make_members(self, rng, source, count, floor_ms, fixed_owner=None) -> list[Member]:
        chosen = []
        if fixed_owner is not None:
            chosen.append((fixed_owner, OWNER))
        pool = [u for u in self.user_list if u is not fixed_owner]
        for u in rng.sample(pool, min(count, len(pool))):
            chosen.append((u, rng.choices(ACCESS_LEVELS, weights=ACCESS_WEIGHTS)[0]))
        out = []
        for u, level in sorted(chosen, key=lambda x: x[0].id):
            start = max(floor_ms, u.created_ms)
            created = start + int(rng.random() * max(0, self.anchor_ms - start))
            creator = rng.choice(self.user_list)
            expires = None
            if level < OWNER and rng.random() < 0.15:
                expires = iso_date(self.anchor_ms + rng.randint(1, 365) * DAY_MS)
            role = MEMBER_ROLE if level == 20 and rng.random() < 0.2 else None
            out.append(Member(u, source, level, created, creator, expires, role))
        return out

    # -- CI ----------------------------------------------------------------------------------

    def ci(self, p: Project) -> ci_mod.ProjectCI:
        """The project's CI, played to the tenant's clock (generated on first use).

        Pipelines and jobs are the bulk of a tenant (~30 KB a project), so only the most recently
        generated ``CHILD_CACHE_PROJECTS`` projects keep theirs; the others regenerate the same
        records on demand. Projects whose CI was changed are pinned and never dropped.
        """
        state = p.ci
        if state is None:
            with self.lock:
                if p.ci is None:
                    state = ci_mod.ProjectCI(p, self.seed)
                    rng = self.rng(12, p.id)
                    for script in ci_mod.plan_history(rng, self.ci_config, p, self.ci_users(p), self.anchor_ms):
                        state.add(script)
                    for script in self.extra_scripts.get(p.id, ()):
                        state.add(script)
                    state.run_until(self.clock_ms)
                    p.ci = state
                    if p.id not in self.pinned:
                        self.child_cache[p.id] = None
                        while len(self.child_cache) > self.CHILD_CACHE_PROJECTS:
                            old = self.projects.get(self.child_cache.popitem(last=False)[0])
                            if old is not None:
                                old.ci = None
                state = p.ci
        return state

    def ci_users(self, p: Project) -> list[User]:
        """Who runs pipelines in ``p``: its Developers and up (direct or through its groups)."""
        if self.layout == "single":
            return self.user_list
        out = {m.user.id: m.user for m in self.members_source(p) if m.access_level >= 30 and not m.user.bot}
        if p.namespace.kind == "group":
            for g in p.namespace.self_and_ancestors():
                out.update({m.user.id: m.user for m in self.members_source(g) if m.access_level >= 30
                            and not m.user.bot})
        if p.namespace.kind == "user":
            out[p.namespace.user.id] = p.namespace.user
        return [out[k] for k in sorted(out)] or [self.users.get(p.creator_id) or next(iter(self.users.values()))]

    def pin(self, p: Project) -> ci_mod.ProjectCI:
        state = self.ci(p)
        self.pinned.add(p.id)
        self.child_cache.pop(p.id, None)
        return state

    def pipelines(self, p: Project) -> list[ci_mod.Pipeline]:
        """The project's pipelines (child pipelines included), oldest first."""
        return self.ci(p).pipelines

    def jobs(self, p: Project) -> list[ci_mod.Job]:
        """All builds of the project, newest (highest id) first, as /projects/:id/jobs lists them."""
        return self.ci(p).builds()

    def job_clock(self, p: Project) -> int:
        """The instant job durations are computed at for ``p`` (how far its CI has been played)."""
        state = p.ci
        return max(self.clock_ms, state.until) if state is not None and state.until is not None else self.clock_ms

    # -- mutations ---------------------------------------------------------------------------

    def mutated(self) -> None:
        self.version += 1
        self._access.clear()

    def stamp(self) -> int:
        """Now on the real clock, never earlier than the tenant's clock or the previous stamp."""
        t = max(now_ms(), self.stamp_ms + 1, self.clock_ms)
        self.stamp_ms = t
        return t

    def members_changed(self, source) -> None:
        source.cache.pop("member_index", None)
        self.access_changed()

    def event(self, project_id: int, t: int | None = None, action: str = "commented") -> bool:
        """An event on the project at ``t`` (push, merge request, issue, note, a member joining or
        leaving). ``Event#reset_project_activity`` (app/models/event.rb): ``last_activity_at`` moves to
        the event's time only if it is at least an hour old; the newest GitLab does it with
        ``touch_all``, which moves ``updated_at`` with it. Returns whether it moved."""
        with self.lock:
            p = self.projects[int(project_id)]
            t = self.stamp() if t is None else t
            moved = p.last_activity_ms <= t - HOUR_MS
            self.events.append((p.id, action, t, moved))
            if not moved:
                return False
            p.last_activity_ms = t
            p.updated_ms = max(p.updated_ms, t)
            p.cache.clear()
            self.mutated()
            return True

    def touch_project(self, project_id: int) -> bool:
        """An event (say, a comment) on the project now: moves ``last_activity_at`` and ``updated_at``
        to now unless it moved within the last hour. Returns whether it moved."""
        return self.event(project_id, None, "commented")

    def touch_updated(self, p: Project, t: int) -> None:
        """An ActiveRecord update of the project row: ``updated_at`` moves, ``last_activity_at`` does not."""
        p.updated_ms = max(p.updated_ms + 1, t)
        p.cache.clear()

    def create_projects(self, n: int, namespace_id: int | None = None) -> list[int]:
        """Create ``n`` projects now (ids above every id ever used); returns their ids. Creating a
        project is an event (``created``), so its ``last_activity_at`` is its creation time."""
        with self.lock:
            # Ids only grow, as in GitLab: never reuse the id of a deleted project.
            pid = max(max(self.projects, default=10_000), self.highest_project_id)
            rng = self.rng(1, self.version, pid)
            ns = self.namespaces[namespace_id] if namespace_id is not None else None
            ids = []
            for _ in range(n):
                pid += rng.randint(1, 5)
                t = self.stamp()
                p = self._add_project(rng, pid, t, t, rng.random() < self.CI_DISABLED_SHARE, False, ns)
                if self.layout != "single":
                    creator = self._creator_for(p)
                    p.creator_id = creator.id
                    p.members = [Member(creator, p, OWNER if p.namespace.kind == "user" else 40, t, creator)]
                    self.members_changed(p)
                ids.append(pid)
            self.highest_project_id = pid
            self.drop_group_json()
            self.mutated()
            return ids

    def _creator_for(self, p: Project) -> User:
        if p.namespace.kind == "user":
            return p.namespace.user
        for g in p.namespace.self_and_ancestors():
            for m in self.members_source(g):
                if m.access_level >= 30 and not m.user.bot:
                    return m.user
        return next(iter(self.users.values()))

    def delete_projects(self, ids) -> None:
        with self.lock:
            self.highest_project_id = max(self.highest_project_id, max(self.projects, default=0))
            for pid in ids:
                p = self.projects.pop(int(pid), None)
                if p is None:
                    continue
                p.namespace.project_ids.remove(p.id)
                self.project_by_path.pop(p.path_with_namespace, None)
                for share in p.shares:
                    share.group.shared_projects.remove(share)
                for path in [k for k, v in self.redirects.items() if v == p.id]:
                    del self.redirects[path]
            self.drop_group_json()
            self.access_changed()

    def delete_namespaces(self, ids) -> None:
        """Delete empty namespaces (no projects, no subgroups), as removing a user or an empty group does."""
        with self.lock:
            for nid in ids:
                ns = self.namespaces.get(int(nid))
                if ns is None:
                    continue
                if ns.project_ids or ns.children:
                    raise ValueError(f"namespace {nid} still holds projects or subgroups")
                self._forget_group(ns)
            self.drop_group_json()
            self.mutated()

    def _forget_group(self, ns: Namespace) -> None:
        del self.namespaces[ns.id]
        if ns.kind == "group":
            self.groups.pop(ns.id, None)
            self.group_by_path.pop(ns.full_path, None)
            for share in list(ns.invited):
                share.group.shared_groups.remove(share)
            for share in list(ns.shared_groups):
                share.target.invited.remove(share)
            for share in list(ns.shared_projects):
                share.target.shares.remove(share)
        if ns.parent is not None:
            ns.parent.children.remove(ns)

    def add_pipeline(self, project_id: int, source: str = "web", outcome: str = "success") -> int:
        """Run a new pipeline (default: a successful one started from the UI) in the project now and
        play it to completion; returns its id. Pipelines never move ``last_activity_at``."""
        with self.lock:
            p = self.projects[int(project_id)]
            state = self.pin(p)
            t = max(self.stamp(), (state.until or 0) + 1)
            rng = self.rng(4, p.id, state.next_iid)
            users = self.ci_users(p)
            script = ci_mod.make_script(rng, self.ci_config, p, t, source, rng.choice(users), outcome=outcome,
                                        ref=p.default_branch or "main", child_ok=False)
            script.actions = [a for a in script.actions if a[1] != "retry"]
            state.add(script)
            state.run_until(t)
            pipe = state.pipelines[-1]
            end = t
            while pipe.status not in ci_mod.COMPLETED and state.queue:
                end = state.queue[0][0]
                state.run_until(end)
            self.stamp_ms = max(self.stamp_ms, end)
            self.mutated()
            return pipe.id

    # -- structural mutations (GitLab semantics for what moves which timestamp) ---------------

    def invalidate_project(self, p: Project) -> None:
        p.cache.clear()
        if p.ci is not None:
            for pipe in p.ci.pipelines:
                pipe.touched()
                pipe.commit_obj = None

    def archive_project(self, project_id: int, t: int | None = None) -> None:
        """``Projects::ArchiveService``: ``project.update(archived: true)``: ``updated_at`` moves,
        ``last_activity_at`` does not (no Event)."""
        with self.lock:
            p = self.projects[int(project_id)]
            p.archived = True
            self.touch_updated(p, self.stamp() if t is None else t)
            self.mutated()

    def set_visibility(self, project_id: int, visibility: str, t: int | None = None) -> None:
        """``Projects::UpdateService``: a row update, so ``updated_at`` moves."""
        with self.lock:
            p = self.projects[int(project_id)]
            p.visibility = clamp_visibility(visibility, p.namespace)
            self.touch_updated(p, self.stamp() if t is None else t)
            self.mutated()

    def _moved(self, p: Project, old_path: str) -> None:
        """A project's full path changed: the old one redirects (``redirect_routes``)."""
        new_path = p.path_with_namespace
        if old_path != new_path:
            self.project_by_path.pop(old_path, None)
            self.redirects[old_path] = p.id
        self.project_by_path[new_path] = p.id
        self.redirects.pop(new_path, None)
        self.invalidate_project(p)

    def rename_project(self, project_id: int, new_name: str, t: int | None = None) -> str:
        """Rename a project and its path (``Projects::UpdateService``): ``updated_at`` moves, the old
        path redirects. Returns the new full path."""
        with self.lock:
            p = self.projects[int(project_id)]
            old = p.path_with_namespace
            taken = {self.projects[x].path for x in p.namespace.project_ids if x != p.id}
            path, k = slug(new_name), 2
            while path in taken:
                path, k = f"{slug(new_name)}-{k}", k + 1
            p.name, p.path = new_name, path
            self._moved(p, old)
            self.touch_updated(p, self.stamp() if t is None else t)
            self.mutated()
            return p.path_with_namespace

    def transfer_project(self, project_id: int, namespace_id: int, t: int | None = None) -> str:
        """``Projects::TransferService``: the project moves to another namespace (a row update:
        ``updated_at`` moves; the old path redirects). Returns the new full path."""
        with self.lock:
            p = self.projects[int(project_id)]
            target = self.namespaces[int(namespace_id)]
            old = p.path_with_namespace
            p.namespace.project_ids.remove(p.id)
            taken = {self.projects[x].path for x in target.project_ids}
            base, k = p.path, 2
            while p.path in taken:
                p.path, k = f"{base}-{k}", k + 1
            p.namespace = target
            target.project_ids.append(p.id)
            p.visibility = clamp_visibility(p.visibility, target)
            self._moved(p, old)
            self.touch_updated(p, self.stamp() if t is None else t)
            self.drop_group_json()
            self.access_changed()
            return p.path_with_namespace

    def move_group(self, group_id: int, parent_id: int) -> str:
        """``Groups::TransferService``: the group (and everything under it) moves under another
        group. Routes change, project rows are not updated (their ``updated_at`` stays); every old
        project path redirects. Returns the group's new full path."""
        with self.lock:
            g = self.groups[int(group_id)]
            parent = self.groups[int(parent_id)]
            if parent is g or parent in g.descendants():
                raise ValueError("cannot move a group under itself")
            moved_groups = [g, *g.descendants()]
            old_group_paths = {x.id: x.full_path for x in moved_groups}
            old_project_paths = {pid: self.projects[pid].path_with_namespace
                                 for x in moved_groups for pid in x.project_ids if pid in self.projects}
            if g.parent is not None:
                g.parent.children.remove(g)
            g.parent = parent
            parent.children.append(g)
            for x in moved_groups:
                self.group_by_path.pop(old_group_paths[x.id], None)
                self.group_by_path[x.full_path] = x.id
                x.visibility = clamp_visibility(x.visibility, x.parent) if x.parent else x.visibility
                x.cache.clear()
            for pid, old in old_project_paths.items():
                self._moved(self.projects[pid], old)
            self.drop_group_json()
            self.access_changed()
            return g.full_path

    def delete_group(self, group_id: int) -> list[int]:
        """Delete a group with its subgroups and projects; returns the deleted project ids."""
        with self.lock:
            g = self.groups[int(group_id)]
            doomed = [g, *g.descendants()]
            pids = [pid for x in doomed for pid in x.project_ids]
            self.delete_projects(pids)
            for x in reversed(doomed):
                self._forget_group(x)
            self.drop_group_json()
            self.access_changed()
            return pids

    def add_member(self, source, user: User, level: int, t: int | None = None, expires: str | None = None,
                   created_by: User | None = None) -> Member:
        """A new membership. Joining a *project* is an event (``joined``: ``EventCreateService#join_source``
        returns early for groups), so only a project's ``last_activity_at`` may move."""
        with self.lock:
            t = self.stamp() if t is None else t
            members = self.members_source(source)
            if any(m.user is user for m in members):
                raise ValueError(f"{user.username} is already a member")
            m = Member(user, source, level, t, created_by or self.admin, expires)
            members.append(m)
            members.sort(key=lambda x: x.user.id)
            self.members_changed(source)
            if isinstance(source, Project):
                self.event(source.id, t, "joined")
            return m

    def remove_member(self, source, user: User, t: int | None = None, expired: bool = False) -> None:
        """Remove a membership. For a project it is an event (``ProjectMember#post_destroy_member_hook``:
        ``left``, or ``expired`` when it ran out), which may move ``last_activity_at``; not for a group."""
        with self.lock:
            t = self.stamp() if t is None else t
            members = self.members_source(source)
            source.members = [m for m in members if m.user is not user]
            self.members_changed(source)
            if isinstance(source, Project):
                self.event(source.id, t, "expired" if expired else "left")

    def change_access(self, source, user: User, level: int) -> None:
        """``Members::UpdateService``: a new access level. No event, no timestamp of the source moves."""
        with self.lock:
            for m in self.members_source(source):
                if m.user is user:
                    m.access_level = level
                    m.cache.clear()
            self.members_changed(source)

    def share_project(self, project_id: int, group_id: int, level: int, expires: str | None = None,
                      t: int | None = None) -> Share:
        """``Projects::GroupLinks::CreateService``: share a project with a group (no event)."""
        with self.lock:
            s = share(self.projects[int(project_id)], self.groups[int(group_id)], level, expires,
                      self.stamp() if t is None else t)
            self.access_changed()
            return s

    def share_group(self, group_id: int, with_group_id: int, level: int, expires: str | None = None,
                    t: int | None = None) -> Share:
        """``Groups::GroupLinks::CreateService``: invite ``with_group_id`` into ``group_id`` (no event)."""
        with self.lock:
            s = share(self.groups[int(group_id)], self.groups[int(with_group_id)], level, expires,
                      self.stamp() if t is None else t)
            self.access_changed()
            return s

    def retry_job(self, job_id: int, t: int | None = None, user: User | None = None) -> int:
        """A user retries a finished job at ``t`` (default now): a new job (new id) in the same pipeline,
        which runs again; the pipeline goes back to running once processed (``Ci::RetryJobService``; the
        project's CI is played two seconds past ``t``). No event. Returns the new job's id."""
        with self.lock:
            p = self.projects.get(int(job_id) // 100_000)
            if p is None:
                raise ValueError(f"no retryable job {job_id}")
            state = self.pin(p)
            for pipe in state.pipelines:
                for j in pipe.jobs:
                    if j.id == job_id and j.retried_ms is None and j.status in ("success", "failed", "canceled"):
                        t = max(self.stamp() if t is None else t, (state.until or 0) + 1)
                        clone = state.retry(j, t, user or j.user)
                        state.run_until(t + 2000)
                        self.stamp_ms = max(self.stamp_ms, t + 2000)
                        self.mutated()
                        return clone.id
            raise ValueError(f"no retryable job {job_id}")

    def access_changed(self) -> None:
        for ns in self.namespaces.values():
            ns.cache.clear()
        for p in self.projects.values():
            for key in [k for k in p.cache if isinstance(k, tuple)]:
                p.cache.pop(key, None)
        self.mutated()

    def drop_group_json(self) -> None:
        # group statistics and namespace project counts depend on the set of projects
        for ns in self.namespaces.values():
            ns.cache.clear()

    def warm(self) -> None:
        """Build every project's JSON now for the default viewer, and play the CI of as many projects
        as stay cached (``CHILD_CACHE_PROJECTS``); otherwise both happen on first use."""
        access = self.access(self.viewer())
        for p in list(self.projects.values()):
            self.project_json(p, access, "access", True)
        for pid in sorted(self.projects)[:self.CHILD_CACHE_PROJECTS]:
            self.ci(self.projects[pid])

    # -- truth -------------------------------------------------------------------------------

    def truth(self, stream: str, token: str | None = None, scope: str = "membership") -> list[dict]:
        """Every record of ``stream`` a correct extraction lands for ``token`` (a token kind) in
        ``scope`` ("membership" or "instance"; see ``truth.py``)."""
        with self.lock:
            return truth_of(self, stream, token, scope)


def member_index_of(tenant: Tenant, source) -> dict[int, Member]:
    tenant.members_source(source)
    return member_index(source)


def share(target, group: Namespace, access_level: int, expires: str | None, t: int) -> Share:
    """Share ``target`` (a project or a group) with ``group`` (ProjectGroupLink / GroupGroupLink)."""
    s = Share(target, group, access_level, expires, t)
    if isinstance(target, Project):
        target.shares.append(s)
        group.shared_projects.append(s)
    else:
        target.invited.append(s)
        group.shared_groups.append(s)
    return s


