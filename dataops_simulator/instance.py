"""The shared-instance layout: one GitLab instance, many customers, ordinary tokens.

DataOps.live is one GitLab instance shared by its customers. ``build_instance`` makes one:

- the customer whose tokens we hold, **Acme** (``projects`` projects): top-level groups ``acme``
  (private, with subgroups two levels deep), ``acme-labs`` (internal) and ``acme-oss`` (public);
- several other customers (``customers``; private or internal groups, now and then a public one);
- the vendor, ``dataops-live``: public and internal reference projects, and a private group;
- users in each of them, access-token bots, an external contractor and an instance administrator.

The token user (``alex.morgan``, token kind "user") reaches projects by every route GitLab has, so
each rule can be seen at work:

==============================================  ====================================================
route                                           where
==============================================  ====================================================
direct group membership, top level              Developer of ``acme-labs`` (inherited by its subgroups)
membership of a subgroup only                   Maintainer of ``acme/data-platform/ingestion``
membership of an empty subgroup                 Reporter of ``acme/governance/policies`` (its private
                                                parent is listed by ``/groups`` but answers 404)
direct project memberships                      Reporter, Developer, a Guest (no statistics), and
                                                one that expires in a few days
personal projects                               two, in the personal namespace ``alex.morgan``
project shared with a group of theirs           an ``acme/finance`` project shared with ``acme-labs``
project shared with a subgroup of their group   an ``acme/finance`` project shared with
                                                ``acme-labs/team-beta`` (the CTE reaches subgroups)
group shared with their group                   ``acme/marketing`` shared with ``acme-labs``
group shared with a subgroup (no access!)       ``acme/sandbox`` shared with ``acme-labs/team-alpha``:
                                                group links count only for *direct* members
another customer's project shared with them     a Globex project shared with ``acme-labs``
==============================================  ====================================================

Other tokens: "admin" (instance administrator), "project_bot" (project access token: a bot
Maintainer of one ``acme/data-platform/transformation`` project), "group_bot" (group access token:
a bot Maintainer of ``acme``), "external" (an external contractor: a Developer of one project, who
does not see Internal projects) and "job" (the CI_JOB_TOKEN of a job running at the anchor in an
Acme project of the token user; ``acme/data-platform/ingestion``'s ``dbt-models`` project allow-lists
it, others do not).

Built eagerly and deterministically from ``seed`` and ``anchor``; ~0.2 s for the default size.
"""

from __future__ import annotations

from . import ci as ci_mod
from .model import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER, Member, Namespace, Project, User
from .tenant import MEMBER_ROLE, Tenant, clamp_visibility, share
from .util import DAY_MS, HOUR_MS, MINUTE_MS, YEAR_MS, iso_date, pick, slug
from .vocab import (
    CUSTOMERS,
    DESCRIPTIONS,
    DOMAINS,
    FIRST,
    JOB_TITLES,
    KINDS,
    LAST,
    LEVEL2,
    LEVEL3,
    LOCATIONS,
    REFERENCE_PROJECTS,
    TOPICS,
)

# Simulator tokens (not secrets) and the kind each authenticates as.
TOKENS = {
    "sim-token": "user",
    "sim-user-token": "user",
    "sim-admin-token": "admin",
    "sim-project-bot-token": "project_bot",
    "sim-group-bot-token": "group_bot",
    "sim-external-token": "external",
    "sim-job-token": "job",
}
TOKEN_USER = "alex.morgan"


class _Builder:
    def __init__(self, t: Tenant, n_acme: int, n_other: int, n_customers: int):
        self.t = t
        self.rng = t.rng(20)
        self.n_acme, self.n_other, self.n_customers = n_acme, n_other, max(1, n_customers)
        self.anchor = t.anchor_ms
        self.next_uid = 1000
        self.users_by_org: dict[str, list[User]] = {}
        self.pending_ns: list[Namespace] = []
        self.groups: dict[str, Namespace] = {}
        self.specs: list[tuple] = []   # (created_ms, namespace, fixed dict)

    # -- users -------------------------------------------------------------------------------

    def user(self, org: str, username: str | None = None, name: str | None = None, kind="human", external=False,
             admin=False) -> User:
        rng = self.rng
        self.next_uid += rng.randint(1, 9)
        if username is None:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            base = slug(f"{first}.{last}").replace("-", ".")
            username, k = base, 2
            while any(u.username == username for u in self.t.users.values()):
                username, k = f"{base}{k}", k + 1
            name = f"{first} {last}"
        created = self.anchor - 5 * YEAR_MS + int(rng.random() * (4 * YEAR_MS))
        u = User(self.next_uid if not admin else 1, username, name or username, "active", created,
                 kind in ("project_bot", "group_bot"), rng.choice(LOCATIONS),
                 "" if kind != "human" else rng.choice(JOB_TITLES), kind=kind, org=org, admin=admin,
                 external=external)
        self.t.users[u.id] = u
        self.users_by_org.setdefault(org, []).append(u)
        self.pending_ns.append(Namespace("user", u.name, u.username, None, created, "private", user=u, org=org))
        return u

    # -- groups ------------------------------------------------------------------------------

    def group(self, path: str, name: str, visibility: str, parent: Namespace | None = None, org: str | None = None,
              created: int | None = None) -> Namespace:
        rng = self.rng
        if created is None:
            base = parent.created_ms if parent else self.anchor - 5 * YEAR_MS
            created = base + rng.randint(1, 90) * DAY_MS
        if parent is not None:
            visibility = clamp_visibility(visibility, parent)
        g = Namespace("group", name, path, parent, created, visibility, f"{name} on DataOps.live",
                      org=org or (parent.org if parent else None))
        if parent is not None:
            parent.children.append(g)
        self.pending_ns.append(g)
        self.groups[g.full_path] = g
        return g

    # -- the layout --------------------------------------------------------------------------

    def build(self) -> None:
        t, rng = self.t, self.rng
        admin = self.user("instance", "root", "Administrator", kind="admin", admin=True)
        t.admin = admin
        t.principals["admin"] = admin
        me = self.user("Acme", TOKEN_USER, "Alex Morgan")
        t.principals["user"] = me
        acme_people = [self.user("Acme") for _ in range(max(10, self.n_acme // 5))]
        contractor = self.user("Acme", "sam.contractor", "Sam Contractor", external=True)
        t.principals["external"] = contractor
        vendor_people = [self.user("DataOps.live") for _ in range(5)]

        # Acme's groups
        acme = self.group("acme", "Acme Corp", "private", org="Acme")
        g = {}
        for path2, name2 in (("data-platform", "Data Platform"), ("analytics", "Analytics"), ("finance", "Finance"),
                             ("marketing", "Marketing"), ("governance", "Governance"), ("sandbox", "Sandbox")):
            g[path2] = self.group(path2, name2, "private", acme)
        for parent, subs in (("data-platform", (("ingestion", "Ingestion"), ("transformation", "Transformation"))),
                             ("analytics", (("reporting", "Reporting"), ("ml", "Machine Learning"))),
                             ("governance", (("policies", "Policies"),))):
            for path3, name3 in subs:
                g[f"{parent}/{path3}"] = self.group(path3, name3, "private", g[parent])
        labs = self.group("acme-labs", "Acme Labs", "internal", org="Acme")
        alpha = self.group("team-alpha", "Team Alpha", "internal", labs)
        beta = self.group("team-beta", "Team Beta", "internal", labs)
        oss = self.group("acme-oss", "Acme Open Source", "public", org="Acme")
        connectors = self.group("connectors", "Connectors", "public", oss)

        # the vendor
        vendor = self.group("dataops-live", "DataOps.live", "public", org="DataOps.live")
        reference = self.group("reference-projects", "Reference Projects", "public", vendor)
        templates = self.group("templates", "Templates", "public", vendor)
        internal_tools = self.group("internal-tools", "Internal Tools", "private", vendor)

        # other customers
        others: list[tuple[str, Namespace, list[Namespace]]] = []
        for i in range(self.n_customers):
            cname = CUSTOMERS[i % len(CUSTOMERS)] + ("" if i < len(CUSTOMERS) else f" {i // len(CUSTOMERS) + 1}")
            people = [self.user(cname) for _ in range(max(4, self.n_other // (4 * self.n_customers)))]
            del people
            top = self.group(slug(cname), cname, pick(rng, (("private", 70), ("internal", 22), ("public", 8))),
                             org=cname)
            cgroups = [self.group(p2, n2, top.visibility, top) for n2, p2 in rng.sample(LEVEL2, rng.randint(2, 4))]
            for sub in list(cgroups):
                if rng.random() < 0.4:
                    n3, p3 = rng.choice(LEVEL3)
                    cgroups.append(self.group(p3, n3, sub.visibility, sub))
            others.append((cname, top, [top, *cgroups]))

        # bots (users of their org; created with their tokens)
        group_bot = self.user("Acme", f"group_{acme.path}_bot_{rng.getrandbits(32):08x}", "Acme Group Token",
                              kind="group_bot")
        t.principals["group_bot"] = group_bot
        project_bot = self.user("Acme", f"project_bot_{rng.getrandbits(32):08x}", "Transformation Token",
                                kind="project_bot")
        t.principals["project_bot"] = project_bot

        # namespace ids follow creation time, shared by groups and user namespaces
        nid = 100
        for ns in sorted(self.pending_ns, key=lambda x: (x.created_ms, x.depth(), x.path)):
            nid += rng.randint(1, 7)
            t.register_namespace(ns, nid)

        # -- projects: the scenario ones first, then the rest spread over each customer's groups
        P = self.project_spec
        finance_shared = P(g["finance"], "Finance Ledger Data Product")
        finance_team_beta = P(g["finance"], "Finance Forecasting Models")
        P(g["finance"], "Finance Close Reporting")
        marketing = [P(g["marketing"], f"Marketing {k}") for k in ("Attribution", "Campaign Analytics")]
        sandbox = P(g["sandbox"], "Sandbox Experiments")
        ingestion = [P(g["data-platform/ingestion"], n) for n in ("Salesforce Ingestion", "dbt Models", "CDC Pipeline")]
        transformation = [P(g["data-platform/transformation"], n) for n in ("Data Vault", "Semantic Layer")]
        reporting = [P(g["analytics/reporting"], n) for n in ("Executive Dashboards", "Sales Reporting",
                                                               "Ops Reporting", "Churn Reporting")]
        labs_projects = [P(labs, "Labs Playground"), P(alpha, "Alpha Streamlit App"), P(beta, "Beta ML Features")]
        oss_projects = [P(oss, "Acme dbt Utils", visibility="public"),
                        P(connectors, "Snowflake Connector", visibility="public")]
        assert me.namespace is not None
        personal = [P(me.namespace, "Scratch Notebooks", visibility="private"),
                    P(me.namespace, "dbt Experiments", visibility="internal")]
        ref_projects = []
        for k, name in enumerate(REFERENCE_PROJECTS):
            holder = reference if k % 3 else templates
            ref_projects.append(P(holder, name, visibility="internal" if k % 4 == 3 else "public"))
        private_ci_reference = ref_projects[3] if len(ref_projects) > 3 else ref_projects[0]
        P(internal_tools, "Release Tooling")
        globex_name, globex_top, _ = others[0]
        globex_shared = P(globex_top, f"{globex_name} Partner Data Share")
        # acme/governance stays without projects: its private parent must answer 404 to the token user
        acme_groups = [x for x in (acme, *acme.descendants(), labs, alpha, beta)
                       if x not in (g["governance"], g["governance/policies"])]
        acme_weights = [3 if x.parent is not None else 1 for x in acme_groups]
        fixed_acme = sum(1 for s in self.specs if s[1].org == "Acme" or s[1] is me.namespace)
        for _ in range(max(0, self.n_acme - fixed_acme)):
            if rng.random() < 0.08:
                P(rng.choice(acme_people).namespace, None)
            else:
                P(rng.choices(acme_groups, weights=acme_weights)[0], None)
        remaining = max(0, self.n_other - len(ref_projects) - 2)
        for i in range(remaining):
            cname, top, cgroups = others[i % len(others)]
            if rng.random() < 0.1:
                P(rng.choice(self.users_by_org[cname]).namespace, None)
            else:
                P(rng.choice(cgroups), None)
        projects = self.make_projects()

        # -- memberships ---------------------------------------------------------------------
        def add(source, user, level, expires=None, role=None, created=None):
            floor = max(source.created_ms, user.created_ms)
            when = created if created is not None else floor + int(rng.random() * max(1, self.anchor - DAY_MS - floor))
            creator = rng.choice(acme_people) if source_org(source) == "Acme" else user
            (source.members if source.members is not None else []).append(
                Member(user, source, level, when, creator, expires, role))

        for ns in t.namespaces.values():
            ns.members = []
        for p in t.projects.values():
            p.members = []
        soon = iso_date(self.anchor + 3 * DAY_MS)
        later = iso_date(self.anchor + 200 * DAY_MS)
        # Acme people across Acme's groups and projects
        owners = acme_people[:2]
        for o in owners:
            add(acme, o, OWNER)
            add(labs, o, OWNER)
            add(oss, o, OWNER)
        for person in acme_people[2:]:
            for grp in rng.sample([x for x in acme_groups if x.parent is not None], 2):
                add(grp, person, rng.choice((REPORTER, DEVELOPER, DEVELOPER, MAINTAINER)),
                    expires=later if rng.random() < 0.1 else None,
                    role=MEMBER_ROLE if rng.random() < 0.05 else None)
        add(acme, acme_people[2], DEVELOPER, expires=soon)       # an expiring group membership
        add(acme, group_bot, MAINTAINER)
        # the token user's own routes (see the module docstring)
        add(labs, me, DEVELOPER)
        add(g["data-platform/ingestion"], me, MAINTAINER)
        add(g["governance/policies"], me, REPORTER)
        add(reporting[0], me, REPORTER)
        add(reporting[1], me, DEVELOPER)
        add(reporting[2], me, GUEST)
        add(reporting[3], me, DEVELOPER, expires=soon)
        for p in personal:
            add(p, me, OWNER, created=p.created_ms)
        add(transformation[0], project_bot, MAINTAINER)
        add(transformation[1], contractor, DEVELOPER)
        for p in [x for x in projects if x.namespace.org == "Acme" or x.namespace.kind == "user"]:
            if p.namespace.kind == "user":
                if not any(m.user is p.namespace.user for m in p.members or ()):
                    add(p, p.namespace.user, OWNER, created=p.created_ms)
                continue
            for person in rng.sample(acme_people, rng.randint(0, 3)):
                if not any(m.user is person for m in p.members or ()):
                    add(p, person, rng.choice((GUEST, REPORTER, DEVELOPER, MAINTAINER)),
                        expires=later if rng.random() < 0.1 else None)
        # shares
        t0 = self.anchor - 200 * DAY_MS
        share(finance_shared, labs, REPORTER, None, t0)
        share(finance_team_beta, beta, DEVELOPER, None, t0)
        share(g["marketing"], labs, DEVELOPER, None, t0)
        share(g["sandbox"], alpha, MAINTAINER, None, t0)
        share(globex_shared, labs, DEVELOPER, later, t0)
        # the vendor and the other customers
        for person in vendor_people:
            add(vendor, person, rng.choice((MAINTAINER, OWNER)))
        for cname, top, cgroups in others:
            people = self.users_by_org[cname]
            add(top, people[0], OWNER)
            for person in people[1:]:
                add(rng.choice(cgroups), person, rng.choice((REPORTER, DEVELOPER, MAINTAINER)),
                    expires=later if rng.random() < 0.05 else None)
            if len(cgroups) > 2 and rng.random() < 0.5:
                share(cgroups[1], cgroups[2], DEVELOPER, None, t0)
        for p in projects:
            if p.namespace.kind == "user" and not p.members:
                add(p, p.namespace.user, OWNER, created=p.created_ms)
            elif p.namespace.org not in ("Acme",) and p.namespace.kind == "group" and rng.random() < 0.3:
                people = self.users_by_org.get(p.namespace.org) or vendor_people
                add(p, rng.choice(people), rng.choice((REPORTER, DEVELOPER)))
        for ns in t.namespaces.values():
            (ns.members or []).sort(key=lambda m: m.user.id)
        for p in t.projects.values():
            (p.members or []).sort(key=lambda m: m.user.id)

        # CI settings the scenarios rely on
        private_ci_reference.builds_access_level = "private"   # members only: looks disabled to Acme
        reporting[2].public_jobs = False                        # the Guest may not see its pipelines
        ingestion[1].job_token_allowlist.add(ingestion[0].id)   # dbt-models allow-lists the job's project
        for p in (*marketing, sandbox, *labs_projects, *oss_projects, *ingestion, *reporting, *personal):
            p.ci_disabled = False
            p.builds_access_level = "enabled"
        self.job_project = ingestion[0]
        self.me = me

    def project_spec(self, ns: Namespace, name: str | None, visibility: str | None = None) -> Project:
        """Record a project to create (ids are given once all exist, in creation order)."""
        rng = self.rng
        lo = max(ns.created_ms, ns.user.created_ms if ns.kind == "user" else 0)
        created = lo + int(rng.random() * max(1, self.anchor - DAY_MS - lo))
        spec = {"name": name, "visibility": visibility}
        p = Project()
        p.namespace, p.created_ms = ns, created
        self.specs.append((created, ns, spec, p))
        return p

    def make_projects(self) -> list[Project]:
        t, rng = self.t, self.rng
        pid = 10_000
        out = []
        for created, ns, spec, p in sorted(self.specs, key=lambda s: s[0]):
            pid += rng.randint(1, 5)
            self.fill_project(p, pid, created, ns, spec)
            out.append(p)
        t.highest_project_id = pid
        return out

    def fill_project(self, p: Project, pid: int, created: int, ns: Namespace, spec: dict) -> None:
        t, rng, anchor = self.t, self.rng, self.anchor
        p.id = pid
        p.ci_disabled = rng.random() < Tenant.CI_DISABLED_SHARE
        p.not_found = False
        domain, kind = rng.choice(DOMAINS), rng.choice(KINDS)
        name = spec["name"] or f"{domain} {kind}"
        path = slug(name)
        taken = {t.projects[x].path for x in ns.project_ids}
        if path in taken:
            k = 2
            while f"{path}-{k}" in taken:
                k += 1
            name, path = f"{name} {k}", f"{path}-{k}"
        p.name, p.path = name, path
        p.archived = rng.random() < 0.08
        wanted = spec["visibility"] or pick(rng, (("private", 60), ("internal", 30), ("public", 10)))
        p.visibility = clamp_visibility(wanted, ns)
        p.description = rng.choice(DESCRIPTIONS).format(name=name, domain=domain, kind=kind)
        p.topics = sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 2, 3))))
        p.empty_repo = rng.random() < 0.02
        p.default_branch = None if p.empty_repo else pick(rng, (("main", 85), ("master", 15)))
        p.creator_id = ns.user.id if ns.kind == "user" else 0
        p.builds_access_level = "disabled" if p.ci_disabled else "enabled"
        r = rng.random()
        if p.archived:
            r = 0.5 + r / 2
        if r < 0.5:
            last = anchor - int(rng.random() * 20 * DAY_MS)
        elif r < 0.8:
            last = anchor - 20 * DAY_MS - int(rng.random() * 300 * DAY_MS)
        else:
            last = anchor - 320 * DAY_MS - int(rng.random() * 2 * YEAR_MS)
        last = min(anchor - MINUTE_MS, max(last, created + int(rng.random() * DAY_MS)))
        p.last_activity_ms = p.gen_last_activity_ms = last
        p.updated_ms = last if rng.random() < 0.5 else min(anchor, last + int(rng.random() * 2 * HOUR_MS))
        p.job_token_allowlist = {pid}
        t.projects[pid] = p
        ns.project_ids.append(pid)
        t.project_by_path[p.path_with_namespace] = pid

    def creators(self) -> None:
        """Every group project's ``creator_id``: an Owner or Maintainer of its group chain."""
        t = self.t
        for p in t.projects.values():
            if p.creator_id:
                continue
            found = None
            for grp in p.namespace.self_and_ancestors():
                for m in grp.members or ():
                    if m.access_level >= MAINTAINER:
                        found = m.user
                        break
                if found:
                    break
            p.creator_id = found.id if found is not None else 1

    def job_token(self) -> None:
        """The CI job token: a job of the token user, running at the anchor in an Acme project."""
        t, p = self.t, self.job_project
        rng = t.rng(21)
        spec = ci_mod.JobSpec("Build all Models", "Data Transformation", 0,
                              attempts=[ci_mod.Attempt("success", 5_000, 3 * HOUR_MS)])
        script = ci_mod.Script(t.anchor_ms - 20 * MINUTE_MS, "schedule", p.default_branch or "main",
                               f"{rng.getrandbits(160):040x}", "0" * 40, self.me, "Nightly refresh", [[spec]])
        t.extra_scripts[p.id] = [script]
        state = t.pin(p)
        job = next(j for pipe in state.pipelines if pipe.script is script for j in pipe.jobs)
        t.principals["job"] = job


def source_org(source) -> str | None:
    ns = source.namespace if isinstance(source, Project) else source
    return ns.org if ns.kind == "group" else (ns.user.org if ns.user else None)


def build_instance(projects: int = 100, other_projects: int = 250, seed: int = 1, anchor=None, customers: int = 6,
                   pipelines_per_project=(0, 6), jobs_per_pipeline=(1, 4), child_pipelines: float = 0.15,
                   retries: float = 0.06) -> Tenant:
    t = Tenant.__new__(Tenant)
    t.init_common(seed, pipelines_per_project, jobs_per_pipeline, anchor, child_pipelines, retries)
    t.layout = "instance"
    t.default_principal = "user"
    b = _Builder(t, int(projects), int(other_projects), int(customers))
    b.build()
    b.creators()
    t.user_list = sorted((u for u in t.users.values() if not u.admin), key=lambda u: u.id)
    t.group_list = [g for g in t.groups.values() if g.org == "Acme"]
    t.group_weights = [1 if g.parent is None else 3 for g in t.group_list]
    t.fork_pool = [p.id for p in list(t.projects.values())[:64] if p.namespace.kind == "group"]
    b.job_token()
    return t
