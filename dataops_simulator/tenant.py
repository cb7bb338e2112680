"""The simulated DataOps.live tenant: a deterministic data model and its mutations.

Everything is derived from ``seed``: the group tree, users, user namespaces and the core attributes
of every project are generated eagerly (cheap: a few random draws each); the expensive parts (the
full project object, members, pipelines, jobs) are generated lazily per project from a random
generator seeded with ``(seed, project id, purpose)``, so the order in which things are requested
never changes what they contain. Each served record's JSON bytes are cached on its owner and
dropped when a mutation touches it.

Timestamps are integers of milliseconds since the epoch, rendered the way GitLab renders them
(``2024-03-01T10:20:30.123Z``). They are spread backwards from ``anchor`` (default: today's UTC
midnight), so the tenant is identical for a given seed and anchor; mutations stamp the real clock.

This module owns data only: no HTTP, no query parameters, no pagination (that is ``server.py``).
All public methods are thread-safe (one re-entrant lock per tenant).
"""

from __future__ import annotations

import json
import random
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from datetime import datetime, timezone

WEB = "https://app.dataops.live"
SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def iso(ms: int | None) -> str | None:
    """GitLab's timestamp format: UTC, milliseconds, trailing Z."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_date(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(ms) // 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


def _to_ms(anchor) -> int:
    if anchor is None:
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return int(today.timestamp()) * 1000
    if isinstance(anchor, datetime):
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=timezone.utc)
        return int(anchor.timestamp() * 1000)
    return int(float(anchor) * 1000)


# --- vocabulary -------------------------------------------------------------------------------

COMPANIES = [
    "Acme Corp", "Globex", "Initech", "Umbrella Analytics", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Cyberdyne", "Wonka Confectionery",
    "Oscorp", "Monarch Energy", "Nakatomi Trading", "Aperture Science", "Blue Sun", "Massive Dynamic",
    "Pied Piper", "Dunder Mifflin", "Gekko Capital", "Sirius Cybernetics", "Prestige Worldwide",
    "Bluth Company", "Wernham Hogg", "Virtucon", "Ollivanders", "Krusty Krab", "Cogswell Cogs",
]
LEVEL2 = [
    ("Data Platform", "data-platform"), ("Analytics", "analytics"), ("Data Products", "data-products"),
    ("Engineering", "engineering"), ("Sandbox", "sandbox"), ("Shared Services", "shared-services"),
    ("Finance", "finance"), ("Marketing", "marketing"), ("Sales", "sales"), ("Operations", "operations"),
    ("Supply Chain", "supply-chain"), ("Customer", "customer"),
]
LEVEL3 = [
    ("Ingestion", "ingestion"), ("Transformation", "transformation"), ("Reporting", "reporting"),
    ("Machine Learning", "ml"), ("Governance", "governance"), ("Reference Projects", "reference"),
    ("Team Alpha", "team-alpha"), ("Team Beta", "team-beta"), ("EMEA", "emea"), ("Americas", "americas"),
]
DOMAINS = [
    "Customer 360", "Sales", "Finance", "Marketing", "Supply Chain", "HR", "Product", "Risk",
    "Compliance", "IoT Telemetry", "Logistics", "Retail", "Inventory", "Billing", "Web Analytics",
    "Clinical Trials", "Claims", "Payments", "Pricing", "Churn", "Forecasting", "Procurement",
]
KINDS = [
    "Data Product", "Ingestion", "Transformation", "dbt Models", "Snowflake Setup", "Orchestration",
    "Reporting", "ML Features", "Streamlit App", "Reference Project", "Data Quality", "CDC Pipeline",
    "Data Vault", "Semantic Layer", "Reverse ETL", "Observability",
]
DESCRIPTIONS = [
    "{name}: DataOps pipelines that build and test the {domain} data product in Snowflake.",
    "Ingests {domain} sources into the raw layer and models them with dbt.",
    "{kind} for the {domain} domain, orchestrated by DataOps.live.",
    "Snowflake objects, roles and warehouses for {domain}, managed with SOLE.",
    "Nightly {domain} refresh with data quality checks and generated documentation.",
    "",
]
TOPICS = [
    "snowflake", "dbt", "dataops", "ingestion", "fivetran", "streamlit", "ml", "reference-project",
    "data-product", "soda", "great-expectations", "sole", "mate", "airflow", "talend",
]
FIRST = [
    "Alice", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ingrid", "Jamal", "Kasia",
    "Liam", "Mei", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sanjay", "Tomás", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoë", "Amara", "Bjørn", "Chiara", "Dmitri",
]
LAST = [
    "Smith", "Jones", "Garcia", "Müller", "Rossi", "Nakamura", "Okafor", "Kowalski", "Singh", "Chen",
    "Dubois", "Andersen", "Silva", "Haddad", "O'Brien", "Novak", "Ivanova", "Kim", "Fischer", "Lopez",
]
LOCATIONS = ["London", "Berlin", "New York", "Bangalore", "Sydney", "Toronto", "Lisbon", "Remote", ""]
JOB_TITLES = ["Data Engineer", "Analytics Engineer", "Data Architect", "Platform Engineer", "BI Developer", ""]
JOB_PROJECT = {"ci_job_token_scope_enabled": False}
# (stage, job name) in pipeline order: a DataOps.live "full-ci" pipeline
JOB_TEMPLATE = [
    ("Pipeline Initialisation", "Initialise Pipeline"),
    ("Pipeline Initialisation", "Set Up Snowflake"),
    ("Snowflake Setup", "Snowflake Orchestration"),
    ("Data Ingestion", "Ingest Sales Data"),
    ("Data Ingestion", "Ingest Customer Data"),
    ("Data Transformation", "Build all Models"),
    ("Data Transformation", "Test all Models"),
    ("Data Quality", "Run Soda Checks"),
    ("Generate Docs", "Generate modelling and transformation documentation"),
    ("Clean Up", "Clean Up Snowflake Objects"),
]
PIPELINE_NAMES = ["full-ci.yml", "Nightly refresh", "Daily ingestion", "PR validation", None]
STATUS_WEIGHTS = (("success", 72), ("failed", 14), ("canceled", 6), ("skipped", 4), ("manual", 4))
SOURCES = (("push", 48), ("schedule", 26), ("web", 14), ("api", 6), ("trigger", 4), ("merge_request_event", 2))
FAILURE_REASONS = ["script_failure", "runner_system_failure", "job_execution_timeout", "stuck_or_timeout_failure"]
ACCESS_LEVELS = (10, 20, 30, 40, 50)
ACCESS_WEIGHTS = (10, 15, 45, 20, 10)


# Project settings every simulated project shares: encoded once, appended to each project's JSON.
PROJECT_SETTINGS = {
    "packages_enabled": True,
    "resolve_outdated_diff_discussions": False,
    "repository_object_format": "sha1",
    "issues_enabled": True,
    "merge_requests_enabled": True,
    "wiki_enabled": True,
    "snippets_enabled": True,
    "container_registry_enabled": True,
    "service_desk_enabled": False,
    "service_desk_address": None,
    "can_create_merge_request_in": True,
    "issues_access_level": "enabled",
    "repository_access_level": "enabled",
    "merge_requests_access_level": "enabled",
    "forking_access_level": "enabled",
    "wiki_access_level": "enabled",
    "snippets_access_level": "enabled",
    "analytics_access_level": "enabled",
    "container_registry_access_level": "enabled",
    "security_and_compliance_access_level": "private",
    "releases_access_level": "enabled",
    "environments_access_level": "enabled",
    "feature_flags_access_level": "enabled",
    "infrastructure_access_level": "enabled",
    "monitor_access_level": "enabled",
    "model_experiments_access_level": "enabled",
    "model_registry_access_level": "enabled",
    "emails_disabled": False,
    "emails_enabled": True,
    "shared_runners_enabled": True,
    "lfs_enabled": True,
    "import_url": None,
    "import_type": None,
    "import_status": "none",
    "import_error": None,
    "ci_default_git_depth": 20,
    "ci_delete_pipelines_in_seconds": None,
    "ci_forward_deployment_enabled": True,
    "ci_forward_deployment_rollback_allowed": True,
    "ci_separated_caches": True,
    "ci_allow_fork_pipelines_to_run_in_parent_project": True,
    "ci_id_token_sub_claim_components": ["project_path", "ref_type", "ref"],
    "build_git_strategy": "fetch",
    "keep_latest_artifact": True,
    "restrict_user_defined_variables": False,
    "ci_pipeline_variables_minimum_override_role": "developer",
    "runner_token_expiration_interval": None,
    "group_runners_enabled": True,
    "auto_cancel_pending_pipelines": "enabled",
    "auto_devops_enabled": False,
    "auto_devops_deploy_strategy": "continuous",
    "ci_push_repository_for_job_token_allowed": False,
    "public_jobs": True,
    "shared_with_groups": [],
    "allow_merge_on_skipped_pipeline": None,
    "request_access_enabled": True,
    "only_allow_merge_if_all_discussions_are_resolved": False,
    "remove_source_branch_after_merge": True,
    "printing_merge_request_link_enabled": True,
    "squash_option": "default_off",
    "enforce_auth_checks_on_uploads": True,
    "suggestion_commit_message": None,
    "merge_commit_template": None,
    "squash_commit_template": None,
    "issue_branch_template": None,
    "warn_about_potentially_unwanted_characters": True,
    "autoclose_referenced_issues": True,
    "max_artifacts_size": None,
    "marked_for_deletion_at": None,
    "marked_for_deletion_on": None,
    "package_registry_access_level": "enabled",
    "requirements_access_level": "enabled",
    "operations_access_level": "enabled",
    "show_diff_preview_in_email": True,
    "mr_default_target_self": False,
    "ci_restrict_pipeline_cancellation_role": "developer",
    "ci_display_pipeline_variables": False,
    "protect_merge_request_pipelines": False,
    "runners_token": None,
    "resource_group_default_process_mode": "unordered",
    "repository_storage": "default",
    "only_allow_merge_if_all_status_checks_passed": False,
    "merge_request_title_regex": None,
    "merge_request_title_regex_description": None,
    "mr_default_title_template": None,
    "mirror": False,
    "mirror_user_id": None,
    "mirror_trigger_builds": False,
    "only_mirror_protected_branches": None,
    "mirror_overwrites_diverged_branches": None,
    "external_authorization_classification_label": "",
    "requirements_enabled": True,
    "security_and_compliance_enabled": True,
    "pre_receive_secret_detection_enabled": False,
    "issues_template": None,
    "merge_requests_template": None,
    "merge_pipelines_enabled": False,
    "merge_trains_enabled": False,
    "merge_trains_skip_train_allowed": False,
    "max_pipelines_per_merge_train": 20,
    "allow_pipeline_trigger_approve_deployment": False,
    "prevent_merge_without_jira_issue": False,
    "duo_remote_flows_enabled": False,
    "duo_foundational_flows_enabled": False,
    "duo_sast_fp_detection_enabled": False,
    "duo_sast_vr_workflow_enabled": False,
    "web_based_commit_signing_enabled": False,
    "spp_repository_pipeline_access": False,
}
_PROJECT_SETTINGS_JSON = _dumps(PROJECT_SETTINGS).encode()[1:-1]


def slug(text: str) -> str:
    out = []
    for ch in text.lower():
        out.append(ch if ch.isascii() and ch.isalnum() else "-")
    return "-".join(part for part in "".join(out).split("-") if part)


def _pick(rng: random.Random, weighted) -> str:
    total = sum(w for _, w in weighted)
    r = rng.random() * total
    for value, w in weighted:
        r -= w
        if r < 0:
            return value
    return weighted[-1][0]


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


# --- entities ---------------------------------------------------------------------------------


class User:
    __slots__ = ("id", "username", "name", "state", "created_ms", "bot", "namespace_id", "location",
                 "job_title", "_basic", "_full")

    def __init__(self, uid, username, name, state, created_ms, bot, location, job_title):
        self.id, self.username, self.name, self.state = uid, username, name, state
        self.created_ms, self.bot, self.location, self.job_title = created_ms, bot, location, job_title
        self.namespace_id = None
        self._basic = self._full = None

    @property
    def web_url(self) -> str:
        return f"{WEB}/{self.username}"

    def basic(self) -> dict:
        if self._basic is None:
            self._basic = {
                "id": self.id, "username": self.username, "name": self.name,
                "public_email": None if self.bot else f"{self.username}@example.com", "state": self.state,
                "locked": self.state == "blocked",
                "avatar_url": f"https://secure.gravatar.com/avatar/{self.id:032x}?s=80&d=identicon",
                "web_url": self.web_url,
            }
        return dict(self._basic)

    def full(self) -> dict:
        """The user object jobs embed (GitLab's ``UserBasic`` plus profile fields)."""
        if self._full is None:
            d = self.basic()
            d.update({
                "created_at": iso(self.created_ms), "bio": "", "location": self.location,
                "skype": "", "linkedin": "", "twitter": "", "discord": "", "mastodon": "", "bluesky": "",
                "website_url": "", "organization": "", "job_title": self.job_title, "pronouns": None,
                "bot": self.bot, "work_information": None, "followers": 0, "following": 0,
                "is_followed": False, "local_time": None,
            })
            self._full = d
        return dict(self._full)


class Namespace:
    """A group or a user namespace (GitLab's ``namespaces`` table; ids shared by both kinds)."""

    __slots__ = ("id", "kind", "name", "path", "parent", "created_ms", "visibility", "description",
                 "user", "children", "project_ids", "_members", "_json")

    def __init__(self, kind, name, path, parent, created_ms, visibility="private", description="", user=None):
        self.id = 0
        self.kind, self.name, self.path, self.parent = kind, name, path, parent
        self.created_ms, self.visibility, self.description, self.user = created_ms, visibility, description, user
        self.children: list[Namespace] = []
        self.project_ids: list[int] = []
        self._members = None
        self._json: dict[str, bytes] = {}

    @property
    def full_path(self) -> str:
        return f"{self.parent.full_path}/{self.path}" if self.parent else self.path

    @property
    def full_name(self) -> str:
        return f"{self.parent.full_name} / {self.name}" if self.parent else self.name

    @property
    def parent_id(self):
        return self.parent.id if self.parent else None

    @property
    def web_url(self) -> str:
        return f"{WEB}/groups/{self.full_path}" if self.kind == "group" else f"{WEB}/{self.path}"

    def depth(self) -> int:
        return 1 + self.parent.depth() if self.parent else 1

    def root(self) -> Namespace:
        return self.parent.root() if self.parent else self

    def descendants(self) -> list[Namespace]:
        out = []
        for child in self.children:
            out.append(child)
            out.extend(child.descendants())
        return out


class Project:
    __slots__ = ("id", "name", "path", "namespace", "created_ms", "last_activity_ms", "updated_ms",
                 "archived", "visibility", "ci_disabled", "not_found", "default_branch", "description",
                 "topics", "creator_id", "empty_repo", "_json", "_members", "_pipelines", "_next_seq")

    def __init__(self):
        self._json: dict[str, bytes] = {}
        self._members = None
        self._pipelines = None
        self._next_seq = 1

    @property
    def path_with_namespace(self) -> str:
        return f"{self.namespace.full_path}/{self.path}"

    @property
    def name_with_namespace(self) -> str:
        return f"{self.namespace.full_name} / {self.name}"

    @property
    def web_url(self) -> str:
        return f"{WEB}/{self.path_with_namespace}"

    @property
    def jobs_enabled(self) -> bool:
        return not self.ci_disabled


class Pipeline:
    """One pipeline: its DETAIL object (``record``), its jobs, and cached JSON bytes."""

    __slots__ = ("id", "project_id", "record", "jobs", "_list_json", "_detail_json")

    LIST_FIELDS = ("id", "iid", "project_id", "sha", "ref", "status", "source", "created_at",
                   "updated_at", "web_url", "name")

    def __init__(self, pid, project_id, record, jobs):
        self.id, self.project_id, self.record, self.jobs = pid, project_id, record, jobs
        self._list_json = self._detail_json = None

    @property
    def updated_ms(self) -> int:
        return self.record["_updated_ms"]

    def list_record(self) -> dict:
        r = self.record
        return {k: r[k] for k in self.LIST_FIELDS}

    def detail_record(self) -> dict:
        return {k: v for k, v in self.record.items() if not k.startswith("_")}

    def list_json(self) -> bytes:
        if self._list_json is None:
            self._list_json = _dumps(self.list_record()).encode()
        return self._list_json

    def detail_json(self) -> bytes:
        if self._detail_json is None:
            self._detail_json = _dumps(self.detail_record()).encode()
        return self._detail_json


class Job:
    __slots__ = ("id", "status", "record", "_json")

    def __init__(self, record):
        self.id, self.status, self.record = record["id"], record["status"], record
        self._json = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = _dumps(self.record).encode()
        return self._json


class Member:
    __slots__ = ("id", "record", "_json")

    def __init__(self, record):
        self.id, self.record = record["id"], record
        self._json = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = _dumps(self.record).encode()
        return self._json


# --- the tenant -------------------------------------------------------------------------------


class Tenant:
    """A deterministic DataOps.live tenant of ``projects`` projects. See the module docstring."""

    CI_DISABLED_SHARE = 0.05   # projects with CI/CD turned off: pipelines and jobs answer 403
    NOT_FOUND_SHARE = 0.02     # projects listed but whose children the token cannot see: 404
    CHILD_CACHE_PROJECTS = 2000  # projects whose generated pipelines/jobs stay cached (see pipelines())

    def __init__(self, projects: int = 200, seed: int = 1, pipelines_per_project=(0, 6),
                 jobs_per_pipeline=(1, 4), anchor=None):
        self.seed = int(seed)
        self.pipelines_per_project = tuple(pipelines_per_project)
        self.jobs_per_pipeline = tuple(jobs_per_pipeline)
        if not 1 <= self.jobs_per_pipeline[1] <= 99:
            raise ValueError("jobs_per_pipeline must lie within 1..99")
        self.anchor_ms = _to_ms(anchor)
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation; server-side caches key on it
        self.users: dict[int, User] = {}
        self.namespaces: dict[int, Namespace] = {}   # groups and user namespaces
        self.groups: dict[int, Namespace] = {}
        self.projects: dict[int, Project] = {}
        self._project_by_path: dict[str, int] = {}
        self._group_by_path: dict[str, int] = {}
        self._child_cache: OrderedDict[int, None] = OrderedDict()  # FIFO of projects with cached pipelines
        self._pinned: set[int] = set()  # projects whose pipelines were mutated: never regenerated
        self._generate(int(projects))

    # -- generation --------------------------------------------------------------------------

    def _rng(self, *parts: int) -> random.Random:
        x = self.seed
        for p in parts:
            x = (x * 1_000_003 + p) & 0xFFFFFFFFFFFFFFFF
        return random.Random(x)

    def _generate(self, n_projects: int) -> None:
        rng = self._rng(0)
        anchor = self.anchor_ms
        # users (and their personal namespaces)
        n_users = max(8, n_projects // 3)
        uid = 1000
        used_usernames = set()
        user_namespaces = []
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
            u = User(uid, username, name, state, created, bot, rng.choice(LOCATIONS), rng.choice(JOB_TITLES))
            self.users[uid] = u
            ns = Namespace("user", name, username, None, created, "private", user=u)
            user_namespaces.append(ns)

        # the group tree: all groups exist before the first project (projects span 4 years)
        n_top = max(2, round(n_projects / 60))
        groups = []
        used_top = set()
        for t in range(n_top):
            company = COMPANIES[t % len(COMPANIES)]
            name = company if t < len(COMPANIES) else f"{company} {t // len(COMPANIES) + 1}"
            path = slug(name)
            used_top.add(path)
            created = anchor - 5 * YEAR_MS + int(rng.random() * 0.35 * YEAR_MS)
            top = Namespace("group", name, path, None, created, rng.choice(("private", "private", "internal")),
                            f"{name} data products on DataOps.live")
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
            ns.id = nid
            self.namespaces[nid] = ns
            if ns.kind == "group":
                self.groups[nid] = ns
                self._group_by_path[ns.full_path] = nid
            else:
                ns.user.namespace_id = nid
        self._group_list = groups
        self._group_weights = [1 if g.parent is None else 3 for g in groups]
        self._user_ns_by_created = sorted(user_namespaces, key=lambda x: x.created_ms)
        self._user_ns_created = [x.created_ms for x in self._user_ns_by_created]
        self._user_list = sorted(self.users.values(), key=lambda u: u.id)

        # projects: ids follow created_at
        created_times = sorted(anchor - 4 * YEAR_MS + int(rng.random() * (4 * YEAR_MS - HOUR_MS))
                               for _ in range(n_projects))
        special = rng.sample(range(n_projects), round(n_projects * (self.CI_DISABLED_SHARE + self.NOT_FOUND_SHARE)))
        n_ci = round(n_projects * self.CI_DISABLED_SHARE)
        ci_disabled, not_found = set(special[:n_ci]), set(special[n_ci:])
        pid = 10_000
        for i, created in enumerate(created_times):
            pid += rng.randint(1, 5)
            self._add_project(rng, pid, created, None, i in ci_disabled, i in not_found)
        # the oldest team projects are the ones personal projects get forked from
        self._fork_pool = [p.id for p in list(self.projects.values())[:64] if p.namespace.kind == "group"]

    def _add_project(self, rng, pid, created, last_activity, ci_disabled, not_found) -> Project:
        anchor = self.anchor_ms
        p = Project()
        p.id, p.created_ms, p.ci_disabled, p.not_found = pid, created, ci_disabled, not_found
        # namespace: mostly groups, some personal projects of users who existed then
        ns = None
        if rng.random() < 0.15:
            older = bisect_left(self._user_ns_created, created)  # user namespaces that existed then
            if older:
                ns = self._user_ns_by_created[rng.randrange(older)]
        if ns is None:
            ns = rng.choices(self._group_list, weights=self._group_weights)[0]
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
        p.visibility = _pick(rng, (("private", 60), ("internal", 30), ("public", 10)))
        p.description = rng.choice(DESCRIPTIONS).format(name=name, domain=domain, kind=kind)
        p.topics = sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 2, 2, 3))))
        p.empty_repo = rng.random() < 0.02
        p.default_branch = None if p.empty_repo else _pick(rng, (("main", 80), ("master", 15), ("develop", 5)))
        p.creator_id = (ns.user.id if ns.kind == "user" else rng.choice(self._user_list).id)
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
            updated = last_activity if rng.random() < 0.4 else min(anchor, last_activity + int(rng.random() * 2 * HOUR_MS))
        else:
            updated = last_activity
        p.last_activity_ms, p.updated_ms = last_activity, updated
        self.projects[pid] = p
        ns.project_ids.append(pid)
        self._project_by_path[p.path_with_namespace] = pid
        return p

    # -- look-ups ----------------------------------------------------------------------------

    def project(self, ref) -> Project | None:
        """A project by id (int or digit string) or by full path."""
        with self.lock:
            if isinstance(ref, str) and not ref.isdigit():
                ref = self._project_by_path.get(ref)
            return self.projects.get(int(ref)) if ref is not None else None

    def group(self, ref) -> Namespace | None:
        with self.lock:
            if isinstance(ref, str) and not ref.isdigit():
                ref = self._group_by_path.get(ref)
            return self.groups.get(int(ref)) if ref is not None else None

    def project_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.projects)

    @property
    def ci_disabled_ids(self) -> frozenset[int]:
        """Projects whose /pipelines and /jobs answer 403 (CI/CD disabled)."""
        with self.lock:
            return frozenset(p.id for p in self.projects.values() if p.ci_disabled)

    @property
    def not_found_ids(self) -> frozenset[int]:
        """Projects listed by /projects whose members, pipelines and jobs answer 404."""
        with self.lock:
            return frozenset(p.id for p in self.projects.values() if p.not_found)

    def child_status(self, project_id: int, child: str) -> int:
        """HTTP status of /projects/:id/<child> (child: members, pipelines or jobs)."""
        p = self.projects.get(project_id)
        if p is None or p.not_found:
            return 404
        if child in ("pipelines", "jobs") and p.ci_disabled:
            return 403
        return 200

    # -- mutations ---------------------------------------------------------------------------

    def _mutated(self) -> None:
        self.version += 1

    def create_projects(self, n: int) -> list[int]:
        """Create ``n`` projects now (ids above every existing id); returns their ids."""
        with self.lock:
            # Ids only grow, as in GitLab: never reuse the id of a deleted project.
            pid = max(max(self.projects, default=10_000), getattr(self, "_highest_project_id", 0))
            rng = self._rng(1, self.version, pid)
            ids = []
            for _ in range(n):
                pid += rng.randint(1, 5)
                t = now_ms()
                self._add_project(rng, pid, t, t, rng.random() < self.CI_DISABLED_SHARE, False)
                ids.append(pid)
            self._highest_project_id = pid
            self._drop_group_json()
            self._mutated()
            return ids

    def delete_projects(self, ids) -> None:
        with self.lock:
            self._highest_project_id = max(getattr(self, "_highest_project_id", 0), max(self.projects, default=0))
            for pid in ids:
                p = self.projects.pop(int(pid), None)
                if p is None:
                    continue
                p.namespace.project_ids.remove(p.id)
                self._project_by_path.pop(p.path_with_namespace, None)
            self._drop_group_json()
            self._mutated()

    def delete_namespaces(self, ids) -> None:
        """Delete empty namespaces (no projects, no subgroups), as removing a user or an empty group does."""
        with self.lock:
            for nid in ids:
                ns = self.namespaces.get(int(nid))
                if ns is None:
                    continue
                if ns.project_ids or ns.children:
                    raise ValueError(f"namespace {nid} still holds projects or subgroups")
                del self.namespaces[ns.id]
                if ns.kind == "group":
                    self.groups.pop(ns.id, None)
                if ns.parent is not None:
                    ns.parent.children.remove(ns)
            self._drop_group_json()
            self._mutated()

    def touch_project(self, project_id: int) -> None:
        """Bump last_activity_at and updated_at to now (as pushing to the project would)."""
        with self.lock:
            p = self.projects[int(project_id)]
            t = max(now_ms(), p.last_activity_ms + 1, p.updated_ms + 1)
            p.last_activity_ms = p.updated_ms = t
            p._json.clear()
            self._mutated()

    def add_pipeline(self, project_id: int) -> int:
        """Run a new (successful) pipeline with jobs in the project now; returns its id."""
        with self.lock:
            p = self.projects[int(project_id)]
            pipelines = self.pipelines(p)
            self._pinned.add(p.id)
            self._child_cache.pop(p.id, None)
            t = max(now_ms(), p.last_activity_ms + 1)
            rng = self._rng(4, p.id, p._next_seq)
            duration = rng.randint(30, 600)
            created = t - duration * 1000 - 2000
            pipe = self._make_pipeline(rng, p, created, "success", "web", p.default_branch or "main",
                                       finished=t)
            pipelines.append(pipe)
            p.last_activity_ms = t
            p._json.clear()
            self._mutated()
            return pipe.id

    def _drop_group_json(self) -> None:
        # group statistics and namespace project counts depend on the set of projects
        for ns in self.namespaces.values():
            ns._json.clear()

    # -- project objects ---------------------------------------------------------------------

    def project_json(self, p: Project, variant: str = "full") -> bytes:
        """Cached JSON of a project: variant "full", "statistics" (full + statistics) or "simple"."""
        # Only "statistics" (and "simple") are stored: "full" is the statistics JSON cut before its
        # statistics member, which halves the cache's memory for one short copy per answer.
        cache = p._json
        if variant == "full":
            stats = cache.get("statistics") or self.project_json(p, "statistics")
            return stats[:cache["cut"]] + b"}"
        cached = cache.get(variant)
        if cached is not None:
            return cached
        with self.lock:
            if variant == "simple":
                data = _dumps(self._project_simple(p)).encode()
            else:
                full = _dumps(self._project_full(p)).encode()[:-1] + b"," + _PROJECT_SETTINGS_JSON
                data = full + b',"statistics":' + _dumps(self._project_statistics(p)).encode() + b"}"
                cache["cut"] = len(full)
            cache[variant] = data
            return data

    def warm(self) -> None:
        """Build every project's JSON now (it is otherwise built on first use, ~70 µs a project)."""
        for p in list(self.projects.values()):
            self.project_json(p, "statistics")

    def project_record(self, p: Project, variant: str = "statistics") -> dict:
        return json.loads(self.project_json(p, variant))

    def _namespace_ref(self, ns: Namespace) -> dict:
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
            "namespace": self._namespace_ref(p.namespace),
        }

    def _project_full(self, p: Project) -> dict:
        rng = self._rng(7, p.id)
        d = self._project_simple(p)
        pwn = p.path_with_namespace
        api = f"{WEB}/api/v4/projects/{p.id}"
        builds = "disabled" if p.ci_disabled else "enabled"
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
            "jobs_enabled": not p.ci_disabled,
            "builds_access_level": builds,
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
            "permissions": {
                "project_access": None if p.namespace.kind == "group" else {"access_level": 50, "notification_level": 3},
                "group_access": {"access_level": rng.choice((30, 40, 50)), "notification_level": 3}
                if p.namespace.kind == "group" else None,
            },
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
            # personal projects are often forks of a team's reference project
            source = self.projects.get(self._fork_source(p))
            if source is not None:
                fork = self._project_simple(source)
                fork.update({"visibility": source.visibility, "license_url": None, "license": None,
                             "repository_storage": "default"})
                d["forked_from_project"] = fork
        return d

    def _fork_source(self, p: Project):
        """The id of the project ``p`` was forked from, or None (decided by p's id alone)."""
        rng = self._rng(13, p.id)
        if rng.random() >= 0.3:
            return None
        older = [pid for pid in self._fork_pool if pid < p.id and pid in self.projects]
        return rng.choice(older) if older else None

    def _project_statistics(self, p: Project) -> dict:
        rng = self._rng(8, p.id)
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

    # -- groups and namespaces ---------------------------------------------------------------

    def group_json(self, g: Namespace, statistics: bool = False) -> bytes:
        key = "statistics" if statistics else "list"
        cached = g._json.get(key)
        if cached is not None:
            return cached
        with self.lock:
            if statistics:
                base = self.group_json(g, False)
                stats = self._group_statistics(g)
                root = None
                if g.parent is None:  # the root's storage statistics cover the whole hierarchy
                    root = dict.fromkeys(("build_artifacts_size", "container_registry_size", "dependency_proxy_size",
                                          "lfs_objects_size", "packages_size", "pipeline_artifacts_size",
                                          "repository_size", "snippets_size", "storage_size", "uploads_size",
                                          "wiki_size"), 0)
                    for sub in [g] + g.descendants():
                        for k, v in self._group_statistics(sub).items():
                            root["build_artifacts_size" if k == "job_artifacts_size" else k] += v
                    root["container_registry_size_is_estimated"] = False
                extra = b',"statistics":' + _dumps(stats).encode() + b',"root_storage_statistics":' + _dumps(root).encode()
                data = base[:-1] + extra + b"}"
            else:
                data = _dumps(self._group_record(g)).encode()
            g._json[key] = data
            return data

    def group_record(self, g: Namespace, statistics: bool = False) -> dict:
        return json.loads(self.group_json(g, statistics))

    def group_detail_json(self, g: Namespace) -> bytes:
        with self.lock:
            d = self._group_record(g)
            d.update({
                "runners_token": None,
                "projects": [json.loads(self.project_json(self.projects[pid], "full"))
                             for pid in sorted(g.project_ids)[:100]],
                "shared_projects": [],
            })
            return _dumps(d).encode()

    def _group_record(self, g: Namespace) -> dict:
        rng = self._rng(9, g.id)
        return {
            "id": g.id, "web_url": g.web_url, "name": g.name, "path": g.path,
            "description": g.description, "visibility": g.visibility,
            "share_with_group_lock": False, "require_two_factor_authentication": rng.random() < 0.2,
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
            "web_based_commit_signing_enabled": False, "shared_with_groups": [],
        }

    def _group_statistics(self, g: Namespace) -> dict:
        keys = ("storage_size", "repository_size", "wiki_size", "lfs_objects_size", "job_artifacts_size",
                "pipeline_artifacts_size", "packages_size", "snippets_size", "uploads_size")
        total = dict.fromkeys(keys, 0)
        for pid in g.project_ids:
            s = self._project_statistics(self.projects[pid])
            for k in keys:
                total[k] += s[k]
        return total

    def namespace_record(self, ns: Namespace) -> dict:
        d = self._namespace_ref(ns)
        rng = self._rng(14, ns.id)
        root_group = ns.kind == "group" and ns.parent is None
        members = None
        if ns.kind == "group":
            members = sum(len(self.group_members(g)) for g in [ns] + ns.descendants())
        repo_size = None
        if root_group:
            repo_size = sum(self._project_statistics(self.projects[pid])["repository_size"]
                            for g in [ns] + ns.descendants() for pid in g.project_ids)
        d.update({
            "members_count_with_descendants": members,
            "billable_members_count": members if root_group else None,
            "max_seats_used": members + rng.randint(0, 5) if root_group else None,
            "max_seats_used_changed_at": iso(self.anchor_ms - rng.randint(1, 200) * DAY_MS) if root_group else None,
            "seats_in_use": members if root_group else None,
            "plan": "premium" if root_group else ("free" if ns.kind == "user" else None),
            "end_date": iso_date(self.anchor_ms + rng.randint(30, 365) * DAY_MS) if root_group else None,
            "trial_ends_on": None, "trial": False if root_group else None,
            "root_repository_size": repo_size,
            "projects_count": len(ns.project_ids),
            "shared_runners_minutes_limit": None if not root_group else 10_000,
            "extra_shared_runners_minutes_limit": None if not root_group else rng.choice((0, 0, 1000)),
            "additional_purchased_storage_size": 0 if root_group else None,
            "additional_purchased_storage_ends_on": None,
        })
        return d

    def namespace_json(self, ns: Namespace) -> bytes:
        cached = ns._json.get("namespace")
        if cached is None:
            with self.lock:
                cached = ns._json["namespace"] = _dumps(self.namespace_record(ns)).encode()
        return cached

    # -- members -----------------------------------------------------------------------------

    def _make_members(self, rng, count, floor_ms, fixed_owner=None) -> list[Member]:
        chosen = []
        if fixed_owner is not None:
            chosen.append((fixed_owner, 50))
        pool = [u for u in self._user_list if u is not fixed_owner]
        for u in rng.sample(pool, min(count, len(pool))):
            chosen.append((u, rng.choices(ACCESS_LEVELS, weights=ACCESS_WEIGHTS)[0]))
        out = []
        for u, level in sorted(chosen, key=lambda x: x[0].id):
            start = max(floor_ms, u.created_ms)
            created = start + int(rng.random() * max(0, self.anchor_ms - start))
            creator = rng.choice(self._user_list)
            expires = None
            if level < 50 and rng.random() < 0.15:
                expires = iso_date(self.anchor_ms + rng.randint(1, 365) * DAY_MS)
            d = u.basic()
            d.update({
                "access_level": level, "created_at": iso(created),
                "created_by": creator.basic(), "expires_at": expires,
                "membership_state": "active", "group_saml_identity": None, "group_scim_identity": None,
                "email": None if u.bot or rng.random() < 0.5 else f"{u.username}@corp.example.com",
                "is_using_seat": not u.bot, "override": False,
                "member_role": {"id": 7, "group_id": None, "name": "Data Steward",
                                "description": "Reporter who can also manage CI/CD variables", "base_access_level": 20}
                if level == 20 and rng.random() < 0.2 else None,
            })
            out.append(Member(d))
        return out

    def project_members(self, p: Project) -> list[Member]:
        if p._members is None:
            with self.lock:
                if p._members is None:
                    rng = self._rng(10, p.id)
                    owner = p.namespace.user if p.namespace.kind == "user" else None
                    count = rng.randint(0, 2) if owner else rng.randint(0, 6)
                    p._members = self._make_members(rng, count, p.created_ms, owner)
        return p._members

    def group_members(self, g: Namespace) -> list[Member]:
        if g._members is None:
            with self.lock:
                if g._members is None:
                    rng = self._rng(11, g.id)
                    g._members = self._make_members(rng, rng.randint(1, 10), g.created_ms)
        return g._members

    # -- pipelines and jobs ------------------------------------------------------------------

    def pipelines(self, p: Project) -> list[Pipeline]:
        """The project's pipelines, oldest first (generated on first use).

        Pipelines and jobs are the bulk of a tenant (~30 KB a project), so only the most recently
        generated ``CHILD_CACHE_PROJECTS`` projects keep theirs; the others regenerate the same
        records on demand. Projects changed by ``add_pipeline`` are pinned and never dropped.
        """
        pipes = p._pipelines
        if pipes is None:
            with self.lock:
                if p._pipelines is None:
                    p._next_seq = 1
                    p._pipelines = self._generate_pipelines(p)
                    if p.id not in self._pinned:
                        self._child_cache[p.id] = None
                        while len(self._child_cache) > self.CHILD_CACHE_PROJECTS:
                            old = self.projects.get(self._child_cache.popitem(last=False)[0])
                            if old is not None:
                                old._pipelines = None
                pipes = p._pipelines
        return pipes

    def _generate_pipelines(self, p: Project) -> list[Pipeline]:
        if p.ci_disabled or p.not_found:
            return []
        rng = self._rng(12, p.id)
        lo, hi = self.pipelines_per_project
        n = rng.randint(lo, hi)
        if n == 0 or p.empty_repo:
            return []
        start, end = p.created_ms, p.last_activity_ms
        starts = sorted(start + int(rng.random() * max(1, end - start)) for _ in range(n - 1))
        out = []
        for i in range(n):
            last = i == n - 1
            status = _pick(rng, STATUS_WEIGHTS)
            if last and self.anchor_ms - end < 6 * HOUR_MS and rng.random() < 0.5:
                status = "running"
            source = _pick(rng, SOURCES)
            ref = p.default_branch
            r = rng.random()
            if r < 0.15:
                ref = f"feature/{rng.choice(('add', 'fix', 'update', 'refactor'))}-{slug(rng.choice(DOMAINS))}"
            elif r < 0.2:
                ref = f"v{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
            if last:
                # the newest pipeline is what last made the project active
                created = max(start, end - rng.randint(60, 1800) * 1000)
                finished = None if status == "running" else end
            else:
                created, finished = starts[i], None
            out.append(self._make_pipeline(rng, p, created, status, source, ref, finished=finished))
        return out

    def _make_pipeline(self, rng, p: Project, created, status, source, ref, finished=None) -> Pipeline:
        seq = p._next_seq
        p._next_seq += 1
        pid = p.id * 1000 + seq
        user = rng.choice(self._user_list)
        queued = rng.randint(1, 40)  # whole seconds for pipelines (jobs report fractions)
        started = created + queued * 1000
        if status in ("skipped", "manual"):
            started = None
        if status == "running":
            finished_ms = None
        elif status in ("skipped", "manual"):
            finished_ms = None if status == "manual" else created + 1000
        else:
            finished_ms = finished if finished is not None else started + rng.randint(30, 1800) * 1000
            finished_ms = max(finished_ms, started + 1000)
        duration = (finished_ms - started) // 1000 if (finished_ms and started) else None
        updated = finished_ms or started or created
        sha = _sha(rng)
        tag = ref.startswith("v") and ref[1:2].isdigit()
        web_url = f"{p.web_url}/-/pipelines/{pid}"
        label = {"success": "passed", "failed": "failed", "canceled": "canceled", "skipped": "skipped",
                 "running": "running", "manual": "manual action"}[status]
        record = {
            "id": pid, "iid": seq, "project_id": p.id, "sha": sha, "ref": ref, "status": status,
            "source": source, "created_at": iso(created), "updated_at": iso(updated), "web_url": web_url,
            "name": rng.choice(PIPELINE_NAMES),
            "before_sha": _sha(rng) if source == "push" else "0" * 40, "tag": tag,
            "yaml_errors": "jobs:build all models config contains unknown keys: scripts"
            if status == "failed" and rng.random() < 0.1 else None,
            "user": user.basic(),
            "started_at": iso(started), "finished_at": iso(finished_ms),
            "committed_at": iso(created - rng.randint(5, 600) * 1000),
            "duration": duration, "queued_duration": queued,
            "coverage": f"{rng.uniform(55, 99):.2f}" if rng.random() < 0.6 else None,
            "detailed_status": {
                "icon": f"status_{status}", "text": label.split()[0].capitalize(), "label": label,
                "group": status, "tooltip": label, "has_details": True,
                "details_path": f"/{p.path_with_namespace}/-/pipelines/{pid}",
                "illustration": {
                    "image": f"/assets/illustrations/empty-state/empty-job-{status}-md.svg", "size": "",
                    "title": f"This pipeline is {label}", "content": None,
                } if status in ("skipped", "manual", "running") else None,
                "favicon": f"/assets/ci_favicons/favicon_status_{status}.png",
                "action": {
                    "icon": "cancel", "title": "Cancel", "path": f"/{p.path_with_namespace}/-/pipelines/{pid}/cancel",
                    "method": "post", "button_title": "Cancel pipeline", "confirmation_message": None,
                } if status == "running" else ({
                    "icon": "retry", "title": "Retry", "path": f"/{p.path_with_namespace}/-/pipelines/{pid}/retry",
                    "method": "post", "button_title": "Retry pipeline", "confirmation_message": None,
                } if status in ("failed", "canceled") else None),
            },
            "archived": False,
            "_updated_ms": updated, "_created_ms": created, "_user_id": user.id,
        }
        pipe = Pipeline(pid, p.id, record, [])
        pipe.jobs = self._make_jobs(rng, p, pipe, user, created, started, finished_ms, status)
        return pipe

    def _make_jobs(self, rng, p, pipe, user, created, started, finished, status) -> list[Job]:
        lo, hi = self.jobs_per_pipeline
        k = rng.randint(lo, hi)
        template = [JOB_TEMPLATE[i] for i in sorted(rng.sample(range(len(JOB_TEMPLATE)), min(k, len(JOB_TEMPLATE))))]
        while len(template) < k:
            template.append(("Data Transformation", f"Build Models {len(template) + 1}"))
        r = pipe.record
        pipeline_ref = {k2: r[k2] for k2 in ("id", "iid", "project_id", "sha", "ref", "status", "source",
                                             "created_at", "updated_at", "web_url")}
        commit = {
            "id": r["sha"], "short_id": r["sha"][:8], "created_at": r["committed_at"],
            "parent_ids": [r["before_sha"]], "title": f"Update {p.name.lower()} models",
            "message": f"Update {p.name.lower()} models\n", "author_name": user.name,
            "author_email": f"{user.username}@example.com", "authored_date": r["committed_at"],
            "committer_name": user.name, "committer_email": f"{user.username}@example.com",
            "committed_date": r["committed_at"], "trailers": {}, "extended_trailers": {},
            "web_url": f"{p.web_url}/-/commit/{r['sha']}",
        }
        runner_id = rng.choice((11, 12, 13, 27, 41))
        runner = {
            "id": runner_id, "description": f"dataops-runner-{runner_id}", "ip_address": None,
            "active": True, "paused": False, "is_shared": runner_id < 20,
            "runner_type": "instance_type" if runner_id < 20 else "group_type",
            "name": "gitlab-runner", "online": True, "status": "online",
        }
        user_full = user.full()
        # statuses per job, consistent with the pipeline's
        n = len(template)
        if status == "success":
            statuses = ["success"] * n
        elif status == "failed":
            fail_at = rng.randrange(n)
            statuses = ["success"] * fail_at + ["failed"] + ["skipped"] * (n - fail_at - 1)
        elif status == "canceled":
            at = rng.randrange(n)
            statuses = ["success"] * at + ["canceled"] * (n - at)
        elif status == "running":
            at = rng.randrange(n)
            statuses = ["success"] * at + ["running"] + ["created"] * (n - at - 1)
        elif status == "manual":
            statuses = ["manual"] * n
        else:
            statuses = ["skipped"] * n
        jobs = []
        t = started if started is not None else created
        span = ((finished or (t + n * 60_000)) - t) // max(1, n)
        for j, ((stage, name), st) in enumerate(zip(template, statuses)):
            jid = pipe.id * 100 + j + 1
            ran = st in ("success", "failed", "canceled", "running")
            j_started = t + j * span + rng.randint(0, 3000) if ran else None
            j_finished = (j_started + max(1000, span - 3000)) if ran and st != "running" else None
            duration = round((j_finished - j_started) / 1000, 3) if j_finished else (
                round((self.anchor_ms - j_started) / 1000, 3) if st == "running" else None)
            has_artifacts = ran and st != "running" and rng.random() < 0.6
            art_size = rng.randint(500, 5_000_000)
            expire = iso((j_finished or created) + 30 * DAY_MS) if has_artifacts else None
            record = {
                "id": jid, "status": st, "stage": stage, "name": name, "ref": r["ref"], "tag": r["tag"],
                "source": r["source"],
                "coverage": float(r["coverage"]) if (r["coverage"] and name.startswith("Test")) else None,
                "allow_failure": name.startswith("Run Soda"),
                "created_at": iso(created), "started_at": iso(j_started), "finished_at": iso(j_finished),
                "erased_at": None, "duration": duration,
                "queued_duration": round(rng.uniform(0.2, 15.0), 3) if ran else None,
                # nested objects are shared by the pipeline's jobs: records are read-only once built
                "user": user_full, "commit": commit,
                "pipeline": pipeline_ref, "web_url": f"{p.web_url}/-/jobs/{jid}",
                "project": JOB_PROJECT,
                "artifacts_file": {"filename": "artifacts.zip", "size": art_size} if has_artifacts else None,
                "artifacts": ([{"file_type": "archive", "size": art_size, "filename": "artifacts.zip", "file_format": "zip"},
                               {"file_type": "trace", "size": rng.randint(2000, 90000), "filename": "job.log", "file_format": None}]
                              if has_artifacts else
                              ([{"file_type": "trace", "size": rng.randint(2000, 90000), "filename": "job.log", "file_format": None}]
                               if ran else [])),
                "runner": runner if ran else None,
                "runner_manager": {
                    "id": runner_id * 10, "system_id": f"r_{runner_id:012x}", "version": "17.5.0",
                    "revision": "8ec04662", "platform": "linux", "architecture": "amd64",
                    "created_at": iso(created - 90 * DAY_MS), "contacted_at": iso(j_started),
                    "ip_address": "10.0.0.%d" % runner_id, "status": "online",
                } if ran else None,
                "artifacts_expire_at": expire, "archived": False,
                "tag_list": ["dataops-runner"] if ran else [],
                "failure_reason": rng.choice(FAILURE_REASONS) if st == "failed" else None,
            }
            jobs.append(Job(record))
        return jobs

    def jobs(self, p: Project) -> list[Job]:
        """All jobs of the project, newest (highest id) first, as /projects/:id/jobs lists them."""
        return sorted((j for pipe in self.pipelines(p) for j in pipe.jobs), key=lambda j: -j.id)

    # -- truth -------------------------------------------------------------------------------

    def truth(self, stream: str) -> list[dict]:
        """Every record of ``stream`` as the API serves it now (see Simulator.truth)."""
        with self.lock:
            projects = [self.projects[i] for i in sorted(self.projects)]
            if stream == "projects":
                return [self.project_record(p, "statistics") for p in projects]
            if stream == "groups":
                return [self.group_record(self.groups[i], statistics=True) for i in sorted(self.groups)]
            if stream == "namespaces":
                return [json.loads(self.namespace_json(self.namespaces[i])) for i in sorted(self.namespaces)]
            if stream == "project_members":
                return [dict(m.record, project_id=p.id) for p in projects if not p.not_found
                        for m in self.project_members(p)]
            if stream == "group_members":
                return [dict(m.record, group_id=g.id) for i in sorted(self.groups)
                        for g in (self.groups[i],) for m in self.group_members(g)]
            if stream == "pipelines":
                return [pipe.detail_record() for p in projects for pipe in self.pipelines(p)]
            if stream == "jobs":
                return [dict(j.record, project_id=p.id, pipeline_id=pipe.id) for p in projects
                        for pipe in self.pipelines(p) for j in pipe.jobs]
            raise ValueError(f"unknown stream {stream!r}")
