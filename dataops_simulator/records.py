"""How the API renders projects, groups, namespaces and members, for one viewer.

Mixed into ``Tenant``. What depends on the viewer is applied as GitLab's entities do it:

- projects (``API::Entities::ProjectWithAccess`` on ``/projects`` and ``/projects/:id``;
  ``API::Entities::Project`` on ``/groups/:id/projects``; ``BasicProjectDetails`` for ``simple=true``
  and anonymous callers): ``statistics`` only with ``statistics=true`` *and* Reporter access or more
  (``read_statistics``; otherwise the key is absent); ``permissions`` (only ProjectWithAccess) from the
  viewer's direct project membership and highest group membership in the project's group chain;
  ``jobs_enabled`` per viewer (``feature_available?(:builds, user)``); ``shared_with_groups`` only
  the links to groups the viewer can read (``Project#visible_group_links``); ``runners_token`` only
  for Maintainers and up (``lib/api/entities/project.rb``).
- groups: ``statistics`` for administrators only (``present_groups``, lib/api/groups.rb);
  ``shared_with_groups`` only on ``GET /groups/:id`` (``GroupDetail``), filtered to readable groups.
- namespaces (``API::Entities::Namespace``, CE and EE): ``members_count_with_descendants``,
  ``root_repository_size`` and ``projects_count`` only for the group's Owner (or an admin);
  ``billable_members_count`` always present, null unless Owner; the seat and subscription fields
  present, null unless Owner; ``plan``, ``trial_ends_on``, ``trial`` only for the Owner; runner-minute
  and purchased-storage limits only for admins.
- members (``API::Entities::Member``, EE): ``email`` only for admins; ``created_by`` only when the
  member's source is accessible to the viewer and not null; ``member_role`` only when set.

JSON bytes are cached on their owner, keyed by what they depend on, and dropped by mutations.
"""

from __future__ import annotations

import json

from .access import Access
from .model import MAINTAINER, REPORTER, Member, Namespace, Project
from .util import DAY_MS, WEB, dumps, iso, iso_date, jbytes, rng_for
from .vocab import PROJECT_SETTINGS

_SETTINGS_JSON = dumps(PROJECT_SETTINGS).encode()[1:-1]
STAT_KEYS = ("storage_size", "repository_size", "wiki_size", "lfs_objects_size", "job_artifacts_size",
             "pipeline_artifacts_size", "packages_size", "snippets_size", "uploads_size")


class Records:
    """The rendering half of ``Tenant`` (see the module docstring)."""

    seed: int
    anchor_ms: int
    fork_pool: list[int]
    projects: dict[int, Project]
    namespaces: dict[int, Namespace]

    def direct_level(self, source, user) -> int:
        raise NotImplementedError

    def members_source(self, source) -> list[Member]:
        raise NotImplementedError

    def rng(self, *parts: int):
        return rng_for(self.seed, *parts)

    # -- projects ----------------------------------------------------------------------------

    def project_json(self, p: Project, access: Access, entity: str = "access", statistics: bool = False) -> bytes:
        """A project as ``entity`` ("access": ProjectWithAccess, "project": Project, "simple":
        BasicProjectDetails) for ``access``'s viewer; ``statistics`` as asked for."""
        cache = p.cache
        if entity == "simple":
            data = cache.get("simple")
            if data is None:
                data = cache["simple"] = jbytes(self._project_simple(p))
            return data
        key = (entity, access.viewer.key)
        found = cache.get(key)
        if found is None:
            found = cache[key] = self._build_project(p, access, entity)
        data, cut = found
        if cut is None:
            return data
        return data if statistics else data[:cut] + b"}"

    def _build_project(self, p: Project, access: Access, entity: str):
        core = p.cache.get("core")
        if core is None:
            core = p.cache["core"] = jbytes(self._project_full(p))[:-1] + b"," + _SETTINGS_JSON
        v = access.viewer
        level = access.level(p)
        shares = [{"group_id": s.group.id, "group_name": s.group.name, "group_full_path": s.group.full_path,
                   "group_access_level": s.access_level, "expires_at": s.expires}
                  for s in p.shares if access.can_read_group(s.group)]
        extra: dict = {"jobs_enabled": access.jobs_enabled(p), "shared_with_groups": shares}
        if v.admin or level >= MAINTAINER:
            extra["runners_token"] = None
        if entity == "access":
            extra["permissions"] = self._permissions(p, v.user)
        data = core + b"," + jbytes(extra)[1:-1]
        if entity == "access" and (v.admin or level >= REPORTER):
            stats = p.cache.get("stats")
            if stats is None:
                stats = p.cache["stats"] = b',"statistics":' + jbytes(self._project_statistics(p))
            return data + stats + b"}", len(data)
        return data + b"}", None

    def _permissions(self, p: Project, user) -> dict:
        """``ProjectWithAccess#permissions``: the direct project membership, and the highest direct
        membership in the project's group or its ancestors (``highest_group_member``)."""
        project_access = group_access = None
        if user is not None:
            level = self.direct_level(p, user)
            if level:
                project_access = {"access_level": level, "notification_level": 3}
            if p.namespace.kind == "group":
                best = max(self.direct_level(g, user) for g in p.namespace.self_and_ancestors())
                if best:
                    group_access = {"access_level": best, "notification_level": 3}
        return {"project_access": project_access, "group_access": group_access}

    def project_record(self, p: Project, access: Access, entity: str = "access", statistics: bool = True) -> dict:
        return json.loads(self.project_json(p, access, entity, statistics))

    def namespace_ref(self, ns: Namespace) -> dict:
        """``NamespaceBasic``: what projects embed as ``namespace``."""
        return {
            "id": ns.id, "name": ns.name, "path": ns.path, "kind": ns.kind, "full_path": ns.full_path,
            "parent_id": ns.parent_id,
            "avatar_url": None if ns.kind == "group" else ns.user.basic()["avatar_url"],
            "web_url": ns.web_url,
        }

    def _project_simple(self, p: Project) -> dict:
        pwn = p.path_with_namespace
        popularity = (p.id * 2654435761 >> 7) % 40  # cheap, deterministic per project
        return {
            "id": p.id, "description": p.description or None, "name": p.name,
            "name_with_namespace": p.name_with_namespace, "path": p.path, "path_with_namespace": pwn,
            "created_at": iso(p.created_ms), "default_branch": p.default_branch,
            "tag_list": list(p.topics), "topics": list(p.topics),
            "ssh_url_to_repo": f"git@app.dataops.live:{pwn}.git",
            "http_url_to_repo": f"{WEB}/{pwn}.git", "web_url": p.web_url,
            "readme_url": None if p.empty_repo else f"{WEB}/{pwn}/-/blob/{p.default_branch}/README.md",
            "forks_count": (0, 0, 0, 0, 1, 2)[popularity % 6],
            "avatar_url": None,
            "star_count": (0, 0, 0, 1, 1, 2, 3, 5)[popularity % 8],
            "last_activity_at": iso(p.last_activity_ms),
            "namespace": self.namespace_ref(p.namespace),
        }

    def _project_full(self, p: Project) -> dict:
        rng = self.rng(7, p.id)
        d = self._project_simple(p)
        pwn = p.path_with_namespace
        api = f"{WEB}/api/v4/projects/{p.id}"
        private_or_enabled = "private" if p.visibility == "private" else "enabled"
        d.update({
            "container_registry_image_prefix": f"registry.app.dataops.live/{pwn}",
            "_links": {
                "self": api, "issues": f"{api}/issues", "merge_requests": f"{api}/merge_requests",
                "repo_branches": f"{api}/repository/branches", "labels": f"{api}/labels",
                "events": f"{api}/events", "members": f"{api}/members", "cluster_agents": f"{api}/cluster_agents",
            },
            "empty_repo": p.empty_repo,
            "archived": p.archived,
            "visibility": p.visibility,
            "container_expiration_policy": {
                "cadence": "1d", "enabled": False, "keep_n": 10, "older_than": "90d",
                "name_regex": ".*", "name_regex_keep": None,
                "next_run_at": iso(p.created_ms + DAY_MS),
            },
            "builds_access_level": p.builds_access_level,
            "public_jobs": p.public_jobs,
            "pages_access_level": private_or_enabled,
            "creator_id": p.creator_id,
            "open_issues_count": rng.choice((0, 0, 1, 2, 3, 5, 8, 13)),
            "description_html": f"<p data-sourcepos=\"1:1-1:{len(p.description)}\" dir=\"auto\">{p.description}</p>"
            if p.description else "",
            "updated_at": iso(p.updated_ms),
            "ci_job_token_scope_enabled": rng.random() < 0.5,
            "build_timeout": rng.choice((3600, 3600, 7200, 10800)),
            "ci_config_path": rng.choice(("", "", "full-ci.yml", "pipelines/includes/full-ci.yml")),
            "only_allow_merge_if_pipeline_succeeds": rng.random() < 0.3,
            "merge_method": rng.choice(("merge", "merge", "rebase_merge", "ff")),
            "build_coverage_regex": r"/^TOTAL.+?(\d+\%)$/" if rng.random() < 0.3 else None,
            "approvals_before_merge": rng.choice((0, 0, 1, 2)),
            "secret_push_protection_enabled": rng.random() < 0.2,
            "compliance_frameworks": ["SOX"] if rng.random() < 0.1 else [],
        })
        if rng.random() < 0.3 and not p.empty_repo:
            d["license_url"] = f"{WEB}/{pwn}/-/blob/{p.default_branch}/LICENSE"
            d["license"] = {"key": "apache-2.0", "name": "Apache License 2.0", "nickname": None,
                            "html_url": "https://www.apache.org/licenses/LICENSE-2.0",
                            "source_url": "https://www.apache.org/licenses/LICENSE-2.0.txt"}
        else:
            d["license_url"], d["license"] = None, None
        if p.namespace.kind == "user":
            owner = p.namespace.user
            d["owner"] = dict(owner.basic(), created_at=iso(owner.created_ms))
            source = self.projects.get(self._fork_source(p))
            if source is not None:
                fork = self._project_simple(source)
                fork.update({"visibility": source.visibility, "license_url": None, "license": None,
                             "repository_storage": "default"})
                d["forked_from_project"] = fork
        return d

    def _fork_source(self, p: Project):
        """The id of the project ``p`` was forked from, or None (decided by p's id alone)."""
        rng = self.rng(13, p.id)
        if rng.random() >= 0.3:
            return None
        pool = self.fork_pool
        older = [pid for pid in pool if pid < p.id and pid in self.projects]
        return rng.choice(older) if older else None

    def _project_statistics(self, p: Project) -> dict:
        rng = self.rng(8, p.id)
        repo = 0 if p.empty_repo else int(rng.lognormvariate(15, 1.5))
        lfs = int(rng.lognormvariate(14, 2)) if rng.random() < 0.15 else 0
        artifacts = 0 if p.ci_disabled else int(rng.lognormvariate(16, 2))
        pipeline_artifacts = 0 if p.ci_disabled else int(rng.lognormvariate(11, 1))
        wiki = int(rng.lognormvariate(10, 1)) if rng.random() < 0.2 else 0
        packages = int(rng.lognormvariate(15, 1.5)) if rng.random() < 0.1 else 0
        uploads = int(rng.lognormvariate(12, 1.5)) if rng.random() < 0.3 else 0
        container = int(rng.lognormvariate(18, 1)) if rng.random() < 0.1 else 0
        return {
            "commit_count": 0 if p.empty_repo else int(rng.lognormvariate(4, 1.2)) + 1,
            "storage_size": repo + lfs + artifacts + pipeline_artifacts + wiki + packages + uploads,
            "repository_size": repo, "wiki_size": wiki, "lfs_objects_size": lfs,
            "job_artifacts_size": artifacts, "pipeline_artifacts_size": pipeline_artifacts,
            "packages_size": packages, "snippets_size": 0, "uploads_size": uploads,
            "container_registry_size": container,
        }

    # -- groups ------------------------------------------------------------------------------

    def group_json(self, g: Namespace, statistics: bool = False) -> bytes:
        """``API::Entities::Group`` as ``/groups`` lists it; ``statistics`` (admins only) when asked."""
        key = "statistics" if statistics else "list"
        cached = g.cache.get(key)
        if cached is not None:
            return cached
        if statistics:
            base = self.group_json(g, False)
            stats = self._group_statistics(g)
            root = None
            if g.parent is None:  # the root's storage statistics cover the whole hierarchy
                root = dict.fromkeys(("build_artifacts_size", "container_registry_size", "dependency_proxy_size",
                                      "lfs_objects_size", "packages_size", "pipeline_artifacts_size",
                                      "repository_size", "snippets_size", "storage_size", "uploads_size",
                                      "wiki_size"), 0)
                for sub in [g, *g.descendants()]:
                    for k, v in self._group_statistics(sub).items():
                        root["build_artifacts_size" if k == "job_artifacts_size" else k] += v
                root["container_registry_size_is_estimated"] = False
            data = base[:-1] + b',"statistics":' + jbytes(stats) + b',"root_storage_statistics":' + jbytes(root) + b"}"
        else:
            data = jbytes(self._group_record(g))
        g.cache[key] = data
        return data

    def group_record(self, g: Namespace, statistics: bool = False) -> dict:
        return json.loads(self.group_json(g, statistics))

    def group_detail_json(self, g: Namespace, access: Access) -> bytes:
        """``API::Entities::GroupDetail`` (``GET /groups/:id``) for the viewer."""
        d = self._group_record(g)
        visible = [self.projects[pid] for pid in sorted(g.project_ids)
                   if pid in self.projects and access.can_read_project(self.projects[pid])]
        shared = [s.target for s in g.shared_projects if s.target.id in self.projects
                  and access.can_read_project(s.target)]
        d.update({
            "runners_token": None,
            "projects": [json.loads(self.project_json(p, access, "project")) for p in visible[:100]],
            "shared_projects": [json.loads(self.project_json(p, access, "project")) for p in shared[:100]],
            "shared_with_groups": [
                {"group_id": s.group.id, "group_name": s.group.name, "group_full_path": s.group.full_path,
                 "group_access_level": s.access_level, "expires_at": s.expires}
                for s in g.invited if access.can_read_group(s.group)],
        })
        if not (access.viewer.admin or access.owns(g)):
            d.pop("runners_token")
        return jbytes(d)

    def _group_record(self, g: Namespace) -> dict:
        rng = self.rng(9, g.id)
        return {
            "id": g.id, "web_url": g.web_url, "name": g.name, "path": g.path,
            "description": g.description, "visibility": g.visibility,
            "share_with_group_lock": g.share_with_group_lock,
            "require_two_factor_authentication": rng.random() < 0.2,
            "two_factor_grace_period": 48, "project_creation_level": "developer",
            "auto_devops_enabled": None, "subgroup_creation_level": "maintainer",
            "emails_disabled": False, "emails_enabled": True, "mentions_disabled": None,
            "lfs_enabled": True, "math_rendering_limits_enabled": True, "lock_math_rendering_limits_enabled": False,
            "default_branch": None, "default_branch_protection": 2,
            "default_branch_protection_defaults": {
                "allowed_to_push": [{"access_level": 40}], "allow_force_push": False,
                "allowed_to_merge": [{"access_level": 40}],
            },
            "avatar_url": None, "request_access_enabled": True,
            "full_name": g.full_name, "full_path": g.full_path,
            "created_at": iso(g.created_ms), "parent_id": g.parent_id, "organization_id": 1,
            "shared_runners_setting": "enabled", "max_artifacts_size": None,
            "ldap_cn": None, "ldap_access": None, "wiki_access_level": "enabled",
            "archived": False, "marked_for_deletion_on": None,
            "file_template_project_id": None, "repository_storage": "default",
            "ldap_group_links": [], "saml_group_links": [
                {"name": f"{g.root().path}-data-engineers", "access_level": 30, "member_role_id": None,
                 "provider": "saml"}] if g.parent is None and rng.random() < 0.5 else [],
            "duo_features_enabled": True, "lock_duo_features_enabled": False, "duo_availability": "default_on",
            "experiment_features_enabled": False, "membership_lock": False,
            "shared_runners_minutes_limit": None, "extra_shared_runners_minutes_limit": None,
            "ip_restriction_ranges": None, "allowed_email_domains_list": None,
            "prevent_sharing_groups_outside_hierarchy": False, "prevent_forking_outside_group": False,
            "enabled_git_access_protocol": "all", "only_allow_merge_if_pipeline_succeeds": False,
            "allow_merge_on_skipped_pipeline": False, "only_allow_merge_if_all_discussions_are_resolved": False,
            "web_based_commit_signing_enabled": False,
        }

    def _group_statistics(self, g: Namespace) -> dict:
        total = dict.fromkeys(STAT_KEYS, 0)
        for pid in g.project_ids:
            p = self.projects.get(pid)
            if p is None:
                continue
            s = self._project_statistics(p)
            for k in STAT_KEYS:
                total[k] += s[k]
        return total

    # -- namespaces --------------------------------------------------------------------------

    def namespace_record(self, ns: Namespace, access: Access) -> dict:
        """``API::Entities::Namespace`` (CE and EE) for the viewer (see the module docstring)."""
        d = self.namespace_ref(ns)
        rng = self.rng(14, ns.id)
        root_group = ns.kind == "group" and ns.parent is None
        owner = access.owns(ns)
        admin = access.viewer.admin
        members = None
        if ns.kind == "group":
            members = sum(len(self.members_source(g)) for g in [ns, *ns.descendants()])
        if ns.kind == "group" and owner:
            repo_size = None
            if root_group:
                repo_size = sum(self._project_statistics(self.projects[pid])["repository_size"]
                                for g in [ns, *ns.descendants()] for pid in g.project_ids if pid in self.projects)
            d.update({"members_count_with_descendants": members, "root_repository_size": repo_size,
                      "projects_count": len(ns.project_ids)})
        d["billable_members_count"] = members if (root_group and owner) else None
        d.update({
            "max_seats_used": members + rng.randint(0, 5) if (root_group and owner) else None,
            "max_seats_used_changed_at": iso(self.anchor_ms - rng.randint(1, 200) * DAY_MS)
            if (root_group and owner) else None,
            "seats_in_use": members if (root_group and owner) else None,
            "end_date": iso_date(self.anchor_ms + rng.randint(30, 365) * DAY_MS) if (root_group and owner) else None,
        })
        if owner:
            d.update({"plan": "premium" if root_group else ("free" if ns.kind == "user" else None),
                      "trial_ends_on": None, "trial": False if root_group else None})
        if admin:
            d.update({
                "shared_runners_minutes_limit": None if not root_group else 10_000,
                "extra_shared_runners_minutes_limit": None if not root_group else rng.choice((0, 0, 1000)),
                "additional_purchased_storage_size": 0 if root_group else None,
                "additional_purchased_storage_ends_on": None,
            })
        return d

    def namespace_json(self, ns: Namespace, access: Access) -> bytes:
        key = ("namespace", access.viewer.admin, access.owns(ns))
        cached = ns.cache.get(key)
        if cached is None:
            cached = ns.cache[key] = jbytes(self.namespace_record(ns, access))
        return cached

    # -- members -----------------------------------------------------------------------------

    def member_json(self, m: Member, access: Access, level: int | None = None) -> bytes:
        """``API::Entities::Member`` (EE) for the viewer; ``level`` overrides the row's access level
        (``/members/all`` shows the effective one)."""
        admin = access.viewer.admin
        src = m.source
        accessible = admin or (access.can_read_project(src) if isinstance(src, Project) else access.can_read_group(src))
        lvl = m.access_level if level is None else level
        key = (admin, accessible, lvl)
        cached = m.cache.get(key)
        if cached is None:
            u = m.user
            d = u.basic()
            d.update({"access_level": lvl, "created_at": iso(m.created_ms)})
            if accessible and m.created_by is not None:
                d["created_by"] = m.created_by.basic()
            d.update({
                "expires_at": m.expires, "membership_state": "active", "group_saml_identity": None,
                "group_scim_identity": None, "is_using_seat": not u.bot, "override": False,
            })
            if admin:
                d["email"] = u.email
            if m.member_role is not None:
                d["member_role"] = m.member_role
            cached = m.cache[key] = jbytes(d)
        return cached
