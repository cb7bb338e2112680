"""The ground truth: what a correct extraction lands, per stream, for one token and scope.

Every record is rendered by the same code the server answers with, for the same viewer, so "truth"
and "what the API serves" cannot drift apart. Two scopes, as the tap has them:

``scope="membership"`` (the default):

- ``projects``: the authorized projects (``GET /projects?membership=true&statistics=true``), as that
  viewer sees them (statistics only where Reporter or up, per-viewer permissions and shares); for an
  administrator too: its own memberships, not the instance;
- ``groups``: the groups ``GET /groups`` answers by default (``all_available`` false for users: their
  groups, their descendants, the groups of authorized projects and shares, and every ancestor; an
  administrator's default is ``all_available`` true: every group, ``find_groups`` in lib/api/groups.rb);
- ``namespaces``: those groups plus the namespace of every in-scope project; each as
  ``GET /namespaces/:id`` shows it where the viewer may read it (membership), otherwise as the
  ``namespace`` object projects embed (``NamespaceBasic``: what the API lets the viewer know);
- ``project_members`` / ``group_members``: direct members of in-scope projects / of the in-scope
  groups whose ``/members`` answers 200 for the viewer (private groups without membership: 403/404);
- ``pipelines`` (child pipelines included), ``jobs`` (retried ones included) and ``bridges`` of the
  in-scope projects whose pipelines the viewer can read;
- ``effective_access``: per (project, user), the row ``GET /projects/:id/members/all`` answers, with
  ``project_id`` and ``source`` ("direct", "inherited" or "shared": the route the shown level comes
  from).

``scope="instance"``: everything the token can see: ``GET /projects`` without ``membership`` (public,
internal and authorized; an administrator: every project) and ``GET /groups?all_available=true``, and
the same children of those. ``truth(stream, token="admin", scope="instance")`` is the instance-wide
truth (groups with their statistics, every namespace).

For a CI job token (``token="job"``) only the pipeline routes authenticate; everything else is an
anonymous request: ``projects`` and ``groups`` are the public ones (as anonymous callers see them),
namespaces and members answer 401 (no records), and ``pipelines``/``jobs``/``bridges`` come from the
job's own project and the projects whose job-token allowlist holds it.
"""

from __future__ import annotations

import json

from . import ci as ci_mod
from .access import group_members_all, project_members_all

STREAMS = ("projects", "namespaces", "groups", "project_members", "group_members", "pipelines", "jobs")
TRUTH_STREAMS = (*STREAMS, "bridges", "effective_access")


SCOPES = ("membership", "instance")


def in_scope(t, access, scope: str = "membership"):
    """(in-scope projects, in-scope groups), both sorted by id."""
    if scope == "instance":
        projects = sorted(access.visible_projects(), key=lambda p: p.id)
        groups = [t.groups[i] for i in sorted(access.groups_all_available())]
    else:
        projects = access.membership_projects()
        groups = [t.groups[i] for i in sorted(access.groups_default())]
    return projects, groups


def truth(t, stream: str, token: str | None = None, scope: str = "membership") -> list[dict]:
    if stream not in TRUTH_STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {', '.join(TRUTH_STREAMS)}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    viewer = t.viewer(token)
    if viewer.job is not None:
        return _job_truth(t, stream, viewer)
    access = t.access(viewer)
    admin = access.viewer.admin
    projects, groups = in_scope(t, access, scope)
    readable = [p for p in projects if not p.not_found]
    if stream == "projects":
        return [t.project_record(p, access, "access", True) for p in projects]
    if stream == "groups":
        return [t.group_record(g, statistics=admin and scope == "instance") for g in groups]
    if stream == "namespaces":
        if admin and scope == "instance":
            return [json.loads(t.namespace_json(t.namespaces[i], access)) for i in sorted(t.namespaces)]
        wanted = {g.id: g for g in groups}
        for p in projects:
            wanted[p.namespace.id] = p.namespace
        return [json.loads(t.namespace_json(ns, access)) if access.can_read_namespace(ns) else t.namespace_ref(ns)
                for ns in (wanted[i] for i in sorted(wanted))]
    if stream == "project_members":
        return [dict(json.loads(t.member_json(m, access)), project_id=p.id) for p in readable
                for m in t.members_source(p)]
    if stream == "group_members":
        return [dict(json.loads(t.member_json(m, access)), group_id=g.id) for g in groups
                if access.group_members_status(g) == 200 for m in t.members_source(g)]
    if stream == "effective_access":
        return [dict(json.loads(t.member_json(m, access, level)), project_id=p.id, source=route)
                for p in readable for m, level, route in project_members_all(t, access, p)]
    ci_projects = [p for p in readable if access.can_read_builds(p)]
    if stream == "pipelines":
        return [ci_mod.pipeline_detail(pipe) for p in ci_projects for pipe in t.pipelines(p)]
    if stream == "jobs":
        return [dict(ci_mod.job_record(j, t.job_clock(p)), project_id=p.id, pipeline_id=pipe.id)
                for p in ci_projects for pipe in t.pipelines(p) for j in pipe.jobs]
    # bridges
    return [dict(ci_mod.job_record(b, t.job_clock(p)), project_id=p.id, pipeline_id=pipe.id)
            for p in ci_projects for pipe in t.pipelines(p) for b in pipe.bridges]


def _job_truth(t, stream: str, viewer) -> list[dict]:
    anonymous = t.access(t.viewer("anonymous"))
    if stream == "projects":
        return [t.project_record(t.projects[i], anonymous, "simple") for i in sorted(t.projects)
                if t.projects[i].visibility == "public"]
    if stream == "groups":
        return [t.group_record(t.groups[i]) for i in sorted(anonymous.groups_default())]
    if stream not in ("pipelines", "jobs", "bridges"):
        return []
    access = t.access(viewer)
    source = viewer.job.pipeline.project
    projects = [t.projects[i] for i in sorted(t.projects)
                if (i == source.id or source.id in t.projects[i].job_token_allowlist)
                and access.can_read_project(t.projects[i]) and access.can_read_builds(t.projects[i])]
    if stream == "pipelines":
        return [ci_mod.pipeline_detail(pipe) for p in projects for pipe in t.pipelines(p)]
    kind = "jobs" if stream == "jobs" else "bridges"
    return [dict(ci_mod.job_record(j, t.job_clock(p)), project_id=p.id, pipeline_id=pipe.id)
            for p in projects for pipe in t.pipelines(p) for j in getattr(pipe, kind)]


def group_members_all_records(t, access, g) -> list[dict]:
    """``GET /groups/:id/members/all`` as records (for tests and the truth of a group's access)."""
    return [json.loads(t.member_json(m, access, level)) for m, level in group_members_all(t, access, g)]
