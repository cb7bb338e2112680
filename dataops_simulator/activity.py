"""A day of realistic activity in the customer's tenant, and what it changed.

``advance_day(tenant)`` moves the tenant's clock by 24 hours and, at random instants of that day
(deterministic for the tenant's seed and the day's number, or for ``seed``), does what a data team's
day does on DataOps.live, each with GitLab's consequences:

- scheduled pipelines on idle projects, API-triggered ones: never move ``last_activity_at``;
- pushes (an Event, and a push pipeline), merge requests, issues and comments (Events): move
  ``last_activity_at`` (and, with the newest GitLab's ``touch_all``, ``updated_at``) only if it is at
  least an hour old (``Event#reset_project_activity``);
- pipelines running at the start finish (their scripts play on), jobs are retried (a new job, the
  pipeline back to running, ``updated_at`` of the pipeline moves; no Event);
- an archive, a rename, a transfer (``updated_at`` moves, old paths redirect), a project deletion;
- a subgroup moved under another group (routes change, project rows are not touched) and a group
  deleted with its projects;
- members added (a project join is an Event), removed (a project leave is an Event), access levels
  changed (no Event), at project and group level; memberships past their ``expires_at`` removed
  (``expired`` Events on projects);
- a new project (its creation is an Event) and new shares (no Event).

The customer is Acme in the shared-instance layout, and the whole tenant in the single layout.
Every project's CI is played to the new clock, so the truth after the call is the new state.
"""

from __future__ import annotations

from . import ci as ci_mod
from .model import DEVELOPER, GUEST, MAINTAINER, REPORTER, Namespace, Project
from .util import DAY_MS, HOUR_MS, MINUTE_MS, iso_date


def _org(ns: Namespace) -> str | None:
    return ns.org if ns.kind == "group" else (ns.user.org if ns.user is not None else None)


def customer_projects(t) -> list[Project]:
    if t.layout == "single":
        return [t.projects[i] for i in sorted(t.projects)]
    return [t.projects[i] for i in sorted(t.projects) if _org(t.projects[i].namespace) == "Acme"]


def customer_groups(t) -> list[Namespace]:
    if t.layout == "single":
        return [t.groups[i] for i in sorted(t.groups)]
    return [t.groups[i] for i in sorted(t.groups) if t.groups[i].org == "Acme"]


def advance_day(t, seed: int | None = None) -> dict:
    """Advance ``t`` by one day of activity; returns what changed (see the module docstring)."""
    with t.lock:
        day = t.days + 1
        t.days = day
        rng = t.rng(30, day) if seed is None else t.rng(31, seed)
        start = max(t.clock_ms, t.stamp_ms)
        end = start + DAY_MS
        # every project's CI is played to the clock, so it is generated (and kept) now
        for p in list(t.projects.values()):
            if not p.not_found:
                t.pin(p)
        before = {pid: (p.last_activity_ms, p.updated_ms) for pid, p in t.projects.items()}
        open_before = {pipe.id for p in t.projects.values() if p.ci for pipe in p.ci.pipelines
                       if pipe.status not in ci_mod.COMPLETED}
        known = {pipe.id for p in t.projects.values() if p.ci for pipe in p.ci.pipelines}
        known_jobs = {j.id for p in t.projects.values() if p.ci for pipe in p.ci.pipelines for j in pipe.jobs}
        changes: dict = {k: [] for k in (
            "events", "pipelines_created", "pipelines_finished", "jobs_retried", "archived", "renamed",
            "transferred", "deleted_projects", "moved_groups", "deleted_groups", "members_added", "members_removed",
            "members_expired", "access_changed", "projects_created", "shares_created", "last_activity_moved",
            "updated_at_moved", "jobs_created")}
        changes["clock"] = (start, end)

        def at(lo_h: float = 0.5, hi_h: float = 23.5) -> int:
            return start + int(rng.uniform(lo_h, hi_h) * HOUR_MS)

        projects = customer_projects(t)
        with_ci = [p for p in projects if p.builds_access_level != "disabled" and not p.empty_repo
                   and not p.not_found and not p.archived]
        people = [u for u in t.users.values()
                  if not u.admin and not u.bot and (t.layout == "single" or u.org == "Acme")]
        plan: list[tuple[int, str, object]] = []
        idle = [p for p in with_ci if p.last_activity_ms < start - 7 * DAY_MS]
        for p in rng.sample(idle, min(len(idle), max(1, len(idle) // 6))):
            plan.append((start + 2 * HOUR_MS + rng.randint(0, 20) * MINUTE_MS, "schedule", p))
        for p in rng.sample(with_ci, min(len(with_ci), max(2, len(with_ci) // 8))):
            plan.append((at(7, 19), "push", p))
        for p in rng.sample(projects, min(len(projects), max(2, len(projects) // 10))):
            plan.append((at(8, 18), rng.choice(("merged", "created", "commented")), p))
        for p in rng.sample(with_ci, min(len(with_ci), max(1, len(with_ci) // 20))):
            plan.append((at(), "api_pipeline", p))
        plan.append((at(9, 17), "retry", None))
        plan.append((at(9, 17), "retry", None))
        plan.append((at(10, 16), "member_changes", None))
        plan.append((at(10, 16), "structure", None))
        plan.append((at(11, 15), "new_project", None))
        plan.append((at(11, 15), "new_share", None))
        plan.append((start + 1, "expiry", None))
        plan.sort(key=lambda x: (x[0], x[1]))

        for when, action, p in plan:
            if isinstance(p, Project) and p.id not in t.projects:
                continue
            if action in ("schedule", "push", "api_pipeline"):
                assert isinstance(p, Project)
                if action == "push":
                    moved = t.event(p.id, when, "pushed")
                    changes["events"].append((p.id, "pushed", when, moved))
                source = {"schedule": "schedule", "push": "push", "api_pipeline": "api"}[action]
                users = t.ci_users(p)
                script = ci_mod.make_script(rng, t.ci_config, p, when + 3_000, source, rng.choice(users),
                                            retry_user=rng.choice(users))
                t.ci(p).add(script)
            elif action in ("merged", "created", "commented"):
                assert isinstance(p, Project)
                moved = t.event(p.id, when, action)
                changes["events"].append((p.id, action, when, moved))
            elif action == "retry":
                _retry_one(t, rng, projects, when, changes)
            elif action == "member_changes":
                _member_changes(t, rng, projects, people, when, changes)
            elif action == "structure":
                _structure(t, rng, projects, when, changes)
            elif action == "new_project":
                groups = [g for g in customer_groups(t) if g.id in t.groups]
                if groups:
                    ns = rng.choice(groups)
                    t.stamp_ms = max(t.stamp_ms, when - 1)
                    changes["projects_created"] += t.create_projects(1, namespace_id=ns.id)
            elif action == "new_share":
                _new_share(t, rng, projects, when, changes)
            elif action == "expiry":
                _expire(t, iso_date(end), when, changes)

        t.clock_ms = end
        t.stamp_ms = max(t.stamp_ms, end)
        for p in list(t.projects.values()):
            if p.ci is not None:
                p.ci.run_until(end)
        t.mutated()
        for p in t.projects.values():
            if p.ci is None:
                continue
            for pipe in p.ci.pipelines:
                if pipe.id not in known:
                    changes["pipelines_created"].append(pipe.id)
                elif pipe.id in open_before and pipe.status in ci_mod.COMPLETED:
                    changes["pipelines_finished"].append(pipe.id)
                for j in pipe.jobs:
                    if j.id not in known_jobs and pipe.id in known and j.created_ms >= start:
                        changes["jobs_created"].append(j.id)
        for pid, p in t.projects.items():
            old = before.get(pid)
            if old is None:
                continue
            if p.last_activity_ms != old[0]:
                changes["last_activity_moved"].append(pid)
            if p.updated_ms != old[1]:
                changes["updated_at_moved"].append(pid)
        return changes


def _retry_one(t, rng, projects, when, changes) -> None:
    """A user retries a failed job of a finished pipeline."""
    candidates = [(p, j) for p in projects if p.ci is not None and p.id in t.projects for pipe in p.ci.pipelines
                  if pipe.status == "failed" for j in pipe.jobs if j.status == "failed" and j.retried_ms is None]
    if not candidates:
        return
    p, job = rng.choice(candidates)
    state = p.ci
    if when <= (state.until or 0):
        when = state.until + 1
    state.run_until(when - 1)
    if job.retried_ms is not None or job.status != "failed":
        return
    clone = state.retry(job, when, rng.choice(t.ci_users(p)))
    changes["jobs_retried"].append((job.id, clone.id))


def _member_changes(t, rng, projects, people, when, changes) -> None:
    live = [p for p in projects if p.id in t.projects and p.namespace.kind == "group"]
    groups = [g for g in customer_groups(t) if g.id in t.groups]
    if not live or not people:
        return
    # a project gains a member (a `joined` event)
    p = rng.choice(live)
    outsiders = [u for u in people if t.member_of(p, u) is None]
    if outsiders:
        u = rng.choice(outsiders)
        level = rng.choice((REPORTER, DEVELOPER, DEVELOPER, MAINTAINER))
        t.add_member(p, u, level, when)
        changes["members_added"].append(("project", p.id, u.id, level))
    # a group gains a member (no event)
    if groups:
        g = rng.choice(groups)
        outsiders = [u for u in people if t.member_of(g, u) is None]
        if outsiders:
            u = rng.choice(outsiders)
            t.add_member(g, u, DEVELOPER, when + 1)
            changes["members_added"].append(("group", g.id, u.id, DEVELOPER))
    # someone leaves a project (a `left` event) and a group (no event)
    with_members = [x for x in live if any(m.access_level < 50 for m in t.members_source(x))]
    if with_members:
        p = rng.choice(with_members)
        m = rng.choice([m for m in t.members_source(p) if m.access_level < 50])
        t.remove_member(p, m.user, when + 2)
        changes["members_removed"].append(("project", p.id, m.user.id))
    groups_with = [g for g in groups if any(m.access_level < 50 and m.user is not t.principals.get("user")
                                            for m in t.members_source(g))]
    if groups_with:
        g = rng.choice(groups_with)
        m = rng.choice([m for m in t.members_source(g) if m.access_level < 50
                        and m.user is not t.principals.get("user")])
        t.remove_member(g, m.user, when + 3)
        changes["members_removed"].append(("group", g.id, m.user.id))
    # access levels change at both levels (no event)
    for source, kind in ((rng.choice(live), "project"), (rng.choice(groups) if groups else None, "group")):
        if source is None:
            continue
        rows = [m for m in t.members_source(source) if m.access_level < 50]
        if rows:
            m = rng.choice(rows)
            new = rng.choice([lvl for lvl in (GUEST, REPORTER, DEVELOPER, MAINTAINER) if lvl != m.access_level])
            changes["access_changed"].append((kind, source.id, m.user.id, m.access_level, new))
            t.change_access(source, m.user, new)


def _structure(t, rng, projects, when, changes) -> None:
    """An archive, a rename, a transfer, a deletion; a subgroup moved; a group deleted."""
    scenario = _scenario_ids(t)
    live = [p for p in projects if p.id in t.projects and not p.archived and p.id not in scenario]
    if len(live) < 4:
        return
    a, r, x, d = rng.sample(live, 4)
    t.archive_project(a.id, when)
    changes["archived"].append(a.id)
    old = r.path_with_namespace
    new = t.rename_project(r.id, f"{r.name} v2", when + 1)
    changes["renamed"].append((r.id, old, new))
    targets = [g for g in customer_groups(t) if g is not x.namespace and g.id in t.groups]
    if targets:
        old = x.path_with_namespace
        new = t.transfer_project(x.id, rng.choice(targets).id, when + 2)
        changes["transferred"].append((x.id, old, new))
    t.delete_projects([d.id])
    changes["deleted_projects"].append(d.id)
    groups = [g for g in customer_groups(t) if g.parent is not None and not g.children]
    movable = [g for g in groups if g.project_ids and not (_scenario_groups(t) & {g.id})]
    if movable:
        g = rng.choice(movable)
        parents = [p for p in customer_groups(t) if p is not g.parent and p is not g and p not in g.descendants()
                   and p.depth() < 3 and _same_root(p, g)]
        if parents:
            old = g.full_path
            changes["moved_groups"].append((g.id, old, t.move_group(g.id, rng.choice(parents).id)))
    deletable = [g for g in customer_groups(t) if g.parent is not None and not g.children
                 and not (_scenario_groups(t) & {g.id}) and len(g.project_ids) <= 2
                 and all(pid not in scenario for pid in g.project_ids)]
    if deletable:
        g = rng.choice(deletable)
        changes["deleted_projects"] += t.delete_group(g.id)
        changes["deleted_groups"].append(g.id)


def _same_root(a: Namespace, b: Namespace) -> bool:
    return a.root() is b.root()


def _scenario_ids(t) -> set[int]:
    """Projects the shared-instance scenarios rely on (the token user's routes, the job token's):
    left alone by structural changes so each scenario stays observable after a day."""
    me = t.principals.get("user")
    out: set[int] = set()
    if me is None or t.layout == "single":
        return out
    acc = t.access(t.viewer("user"))
    out.update(acc.authorized())
    job = t.principals.get("job")
    if job is not None:
        out.add(job.pipeline.project.id)
    return out


def _scenario_groups(t) -> set[int]:
    if t.layout == "single":
        return set()
    acc = t.access(t.viewer("user"))
    out = set(acc.groups_default())
    for gid in list(out):
        out.update(a.id for a in t.groups[gid].self_and_ancestors())
    return out


def _new_share(t, rng, projects, when, changes) -> None:
    groups = [g for g in customer_groups(t) if g.id in t.groups]
    live = [p for p in projects if p.id in t.projects and p.namespace.kind == "group"]
    if len(groups) < 2 or not live:
        return
    p = rng.choice(live)
    g = rng.choice([x for x in groups if x is not p.namespace and all(s.group is not x for s in p.shares)] or groups)
    if any(s.group is g for s in p.shares):
        return
    t.share_project(p.id, g.id, REPORTER, None, when)
    changes["shares_created"].append(("project", p.id, g.id, REPORTER))
    a, b = rng.sample(groups, 2)
    if b not in a.self_and_ancestors() and a not in b.self_and_ancestors() and all(s.group is not b for s in a.invited):
        t.share_group(a.id, b.id, DEVELOPER, None, when + 1)
        changes["shares_created"].append(("group", a.id, b.id, DEVELOPER))


def _expire(t, today: str, when: int, changes) -> None:
    """``RemoveExpiredMembersWorker``: memberships whose ``expires_at`` is today or earlier are removed
    (``Member.expired``: ``expires_at <= today``; an ``expired`` event on projects);
    ``RemoveExpiredGroupLinksWorker`` likewise for shares."""
    for source in [*t.projects.values(), *t.namespaces.values()]:
        for m in list(source.members or ()):
            if m.expires is not None and m.expires <= today:
                t.remove_member(source, m.user, when, expired=True)
                kind = "project" if isinstance(source, Project) else "group"
                changes["members_expired"].append((kind, source.id, m.user.id))
    for p in list(t.projects.values()):
        for s in list(p.shares):
            if s.expires is not None and s.expires <= today:
                p.shares.remove(s)
                s.group.shared_projects.remove(s)
                t.access_changed()
    for g in list(t.groups.values()):
        for s in list(g.invited):
            if s.expires is not None and s.expires <= today:
                g.invited.remove(s)
                s.group.shared_groups.remove(s)
                t.access_changed()
