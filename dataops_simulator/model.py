"""The instance's entities: users, namespaces (groups and personal namespaces), projects, memberships
and shares. Plain objects with slots; behaviour lives in ``access`` (who may see what), ``records``
(how the API renders them) and ``ci`` (pipelines and jobs).

Access levels and visibility follow GitLab (``Gitlab::Access``, ``Gitlab::VisibilityLevel``): Guest 10,
Reporter 20, Developer 30, Maintainer 40, Owner 50; private < internal < public. A project is never
more visible than its namespace, nor a subgroup than its parent (GitLab refuses such settings).
"""

from __future__ import annotations

from .util import WEB, iso

NO_ACCESS, GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 0, 10, 20, 30, 40, 50
VISIBILITY = {"private": 0, "internal": 10, "public": 20}


class User:
    """A user of the instance. ``kind``: "human", "project_bot", "group_bot" (access-token bots are
    users too) or "admin". ``org`` is the customer (tenant) the user belongs to."""

    __slots__ = ("_basic", "_full", "admin", "bot", "created_ms", "email", "external", "id", "job_title",
                 "kind", "location", "name", "namespace", "namespace_id", "org", "state", "username")

    def __init__(self, uid, username, name, state, created_ms, bot, location, job_title, kind="human",
                 org=None, admin=False, external=False):
        self.id, self.username, self.name, self.state = uid, username, name, state
        self.created_ms, self.bot, self.location, self.job_title = created_ms, bot, location, job_title
        self.kind, self.org, self.admin, self.external = kind, org, admin, external
        self.email = f"{username}@corp.example.com"
        self.namespace_id = None
        self.namespace: Namespace | None = None
        self._basic = self._full = None

    @property
    def web_url(self) -> str:
        return f"{WEB}/{self.username}"

    def basic(self) -> dict:
        """``API::Entities::UserBasic`` as members and pipelines embed it."""
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
        """The user object jobs embed (``API::Entities::User``: UserBasic plus profile fields)."""
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

    __slots__ = (
        "cache",
        "children",
        "created_ms",
        "description",
        "id",
        "invited",
        "kind",
        "members",
        "name",
        "org",
        "parent",
        "path",
        "project_ids",
        "share_with_group_lock",
        "shared_groups",
        "shared_projects",
        "user",
        "visibility",
    )

    def __init__(self, kind, name, path, parent, created_ms, visibility="private", description="", user=None,
                 org=None):
        self.id = 0
        self.kind, self.name, self.path, self.parent = kind, name, path, parent
        self.created_ms, self.visibility, self.description, self.user = created_ms, visibility, description, user
        self.org = org
        self.children: list[Namespace] = []
        self.project_ids: list[int] = []
        self.members: list[Member] | None = None
        self.invited: list[Share] = []          # groups invited into this group (GroupGroupLink, shared_group = self)
        self.shared_projects: list[Share] = []  # project shares whose invited group is self
        self.shared_groups: list[Share] = []    # group shares whose invited group is self
        self.share_with_group_lock = False
        self.cache: dict = {}

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

    def self_and_ancestors(self) -> list[Namespace]:
        out, node = [], self
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def descendants(self) -> list[Namespace]:
        out = []
        for child in self.children:
            out.append(child)
            out.extend(child.descendants())
        return out


class Project:
    __slots__ = (
        "archived",
        "builds_access_level",
        "cache",
        "ci",
        "ci_disabled",
        "created_ms",
        "creator_id",
        "default_branch",
        "description",
        "empty_repo",
        "gen_last_activity_ms",
        "id",
        "job_token_allowlist",
        "last_activity_ms",
        "members",
        "name",
        "namespace",
        "not_found",
        "path",
        "public_jobs",
        "shares",
        "topics",
        "updated_ms",
        "visibility",
    )

    id: int
    name: str
    path: str
    namespace: Namespace
    created_ms: int
    last_activity_ms: int
    updated_ms: int
    gen_last_activity_ms: int
    archived: bool
    visibility: str
    ci_disabled: bool
    not_found: bool
    default_branch: str | None
    description: str
    topics: list[str]
    creator_id: int
    empty_repo: bool

    def __init__(self):
        self.cache: dict = {}
        self.members: list[Member] | None = None
        self.ci = None                      # ci.ProjectCI, built on first use
        self.shares: list[Share] = []       # ProjectGroupLink: groups this project is shared with
        self.builds_access_level = "enabled"
        self.public_jobs = True
        self.job_token_allowlist: set[int] = set()  # projects whose job tokens may read this one's pipelines

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
        return self.builds_access_level != "disabled"

    @property
    def group(self) -> Namespace | None:
        return self.namespace if self.namespace.kind == "group" else None


class Member:
    """One membership row (GitLab's ``members`` table): a user on a project or a group."""

    __slots__ = (
        "access_level",
        "cache",
        "created_by",
        "created_ms",
        "expires",
        "id",
        "member_role",
        "source",
        "user",
    )

    def __init__(self, user: User, source, access_level: int, created_ms: int, created_by: User | None,
                 expires: str | None = None, member_role: dict | None = None):
        self.user, self.source, self.access_level = user, source, access_level
        self.created_ms, self.created_by, self.expires, self.member_role = created_ms, created_by, expires, member_role
        self.id = user.id
        self.cache: dict = {}

    @property
    def is_project(self) -> bool:
        return isinstance(self.source, Project)


class Share:
    """A share: ``target`` (a project: ProjectGroupLink, or a group: GroupGroupLink) shared with the
    invited ``group`` at ``access_level`` until ``expires`` (a date or None)."""

    __slots__ = ("access_level", "created_ms", "expires", "group", "target")

    def __init__(self, target, group: Namespace, access_level: int, expires: str | None, created_ms: int):
        self.target, self.group, self.access_level, self.expires = target, group, access_level, expires
        self.created_ms = created_ms
