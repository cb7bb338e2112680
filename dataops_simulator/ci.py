"""CI: pipelines, jobs (builds) and bridges, driven through their statuses by GitLab's own rules.

Every pipeline starts as a *script*: when it is created, what each job will do (its queue wait, run
time and outcome, drawn once from a seeded generator) and what happens to it later (a cancel, a retry,
a child pipeline). ``ProjectCI`` plays the scripts of one project in time order up to an instant (the
tenant's clock), exactly as GitLab's processing would move the records; advancing the clock later
continues them (running pipelines finish, retried jobs run). What the API shows is derived from the
resulting state, never invented separately, so the detail fields agree with the jobs as GitLab's do:

- a pipeline's status is ``Gitlab::Ci::Status::Composite`` over its latest jobs and bridges
  (gitlabhq ``lib/gitlab/ci/status/composite.rb``), recomputed by asynchronous processing a little
  after each job event (``PipelineProcessWorker``; here a deterministic 0.15-1.45 s lag);
- ``started_at`` is set on the first ``created/preparing/pending -> running`` transition
  (``started_at ||= Time.current``), ``finished_at`` on every transition to success/failed/canceled,
  nothing for skipped or manual (``Ci::Pipeline`` state machine, ``app/models/ci/pipeline.rb``);
- ``duration`` is recomputed only on transitions to success/failed/canceled/manual, and only if
  ``started_at`` is set (``Ci::Pipeline#update_duration``): the union of the running periods of the
  latest *builds* (bridges excluded) of the pipeline and of all its downstream pipelines, whose status
  is success/failed/running/canceled and that have started, running ones counted up to that instant;
  touching periods merge; the sum is truncated to whole seconds
  (``Gitlab::Ci::Pipeline::Duration.from_pipeline``/``self_and_downstreams_builds_of_pipeline``,
  ``lib/gitlab/ci/pipeline/duration.rb``; the integer column truncates). A re-run pipeline that is
  running again shows the duration of its last completion;
- ``queued_duration`` is ``(started_at - created_at).to_i``, nil when 0 or not started
  (``Ci::Pipeline#queued_duration``); ``coverage`` is the mean of the non-null coverages of the
  pipeline's own latest statuses, as ``'%.2f'`` (``Ci::Pipeline#coverage``, ``Ci::PipelinePresenter``);
- a retry creates a new job (new id, same name and stage) and marks the old one retried
  (``CommitStatus#update_older_statuses_retried!``); a manual retry resets the skipped jobs of later
  stages to created (``Ci::ResetSkippedJobsService``) and sends the pipeline back to running;
- job ``duration``/``queued_duration`` are float seconds (``Ci::HasStatus#calculate_duration``), the
  missing end being "now" (the tenant's clock), so they grow while a job runs or waits;
- a bridge (trigger job) creates a child pipeline (``source: parent_pipeline``) in the same project;
  with ``strategy: depend`` it mirrors the child's status, otherwise it succeeds once the child exists.

Ids: a pipeline is ``project_id * 1000 + iid``; jobs and bridges share one per-project sequence
(``project_id * 100000 + n``) in creation order, so a retry always gets a higher id than every job
created before it, as GitLab's global sequence does.
"""

from __future__ import annotations

import heapq
import math

from .model import Project, User
from .util import DAY_MS, HOUR_MS, iso, jbytes, pick, sha, slug, spread
from .vocab import DOMAINS, FAILURE_REASONS, JOB_PROJECT, JOB_TEMPLATE, PIPELINE_NAMES, SOURCES, STATUS_WEIGHTS

CANCELABLE = frozenset(("created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"))
COMPLETED = frozenset(("success", "failed", "canceled", "skipped"))
DURATION_STATUSES = frozenset(("success", "failed", "running", "canceled"))
PASSED_WITH_WARNINGS = frozenset(("failed", "canceled"))   # Ci::HasStatus::PASSED_WITH_WARNINGS_STATUSES
IGNORED = frozenset(("manual",))                            # Ci::HasStatus::IGNORED_STATUSES
PIPELINE_LIST_FIELDS = ("id", "iid", "project_id", "sha", "ref", "status", "source", "created_at",
                        "updated_at", "web_url")
MAX_PIPELINES = 999
MAX_JOBS = 99_999


def composite(jobs) -> str | None:
    """``Gitlab::Ci::Status::Composite#status`` (non-DAG) over ``(status, allow_failure)`` of ``jobs``."""
    s = set()
    for j in jobs:
        st = j.status
        if j.allow_failure and st in PASSED_WITH_WARNINGS:
            s.add("success_with_warnings")
        elif j.allow_failure and st in IGNORED:
            s.add("ignored")
        else:
            s.add(st)
    if not s:
        return None

    def only(*names):
        matching = sum(1 for n in names if n in s)
        return matching > 0 and matching == len(s)

    if only("skipped", "ignored"):
        return "skipped"
    if only("success", "skipped", "success_with_warnings", "ignored"):
        return "success"
    if only("created", "success_with_warnings", "ignored"):
        return "created"
    if only("preparing", "success_with_warnings", "ignored"):
        return "preparing"
    if only("canceled", "success", "skipped", "success_with_warnings", "ignored"):
        return "canceled"
    if only("pending", "created", "skipped", "success_with_warnings", "ignored"):
        return "pending"
    for name, result in (("running", "running"), ("pending", "running"),
                         ("waiting_for_resource", "waiting_for_resource"), ("manual", "manual"),
                         ("scheduled", "scheduled"), ("preparing", "preparing"), ("created", "running")):
        if name in s:
            return result
    return "failed"


def union_ms(periods: list[tuple[int, int]]) -> int:
    """``Duration.from_periods``: periods sorted by start, overlapping or touching ones merged, summed."""
    total, cur = 0, None
    for first, last in sorted(periods):
        if cur is not None and first <= cur[1]:
            cur[1] = max(cur[1], last)
        else:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = [first, last]
    if cur is not None:
        total += cur[1] - cur[0]
    return total


# --- scripts ----------------------------------------------------------------------------------


class Attempt:
    """What one run of a job will do: queue wait, run time (ms), outcome, and whether a failure is
    retried automatically (``retry:`` in the CI config)."""

    __slots__ = ("auto_retry", "coverage", "failure_reason", "fate", "run_ms", "wait_ms")

    def __init__(self, fate, wait_ms, run_ms, failure_reason=None, coverage=None, auto_retry=False):
        self.fate, self.wait_ms, self.run_ms = fate, wait_ms, run_ms
        self.failure_reason, self.coverage, self.auto_retry = failure_reason, coverage, auto_retry


class JobSpec:
    __slots__ = ("allow_failure", "attempts", "child", "depend", "kind", "name", "stage", "stage_idx", "when")

    def __init__(self, name, stage, stage_idx, kind="build", when="on_success", allow_failure=False, attempts=(),
                 child=None, depend=False):
        self.name, self.stage, self.stage_idx, self.kind = name, stage, stage_idx, kind
        self.when, self.allow_failure, self.attempts = when, allow_failure, list(attempts)
        self.child, self.depend = child, depend


class Script:
    """A pipeline to be: created at ``created_ms`` by ``user``; later actions as (at_ms, kind, arg)."""

    __slots__ = ("actions", "before_sha", "created_ms", "name", "ref", "sha", "source", "stages", "user",
                 "yaml_error")

    def __init__(self, created_ms, source, ref, sha_, before_sha, user, name, stages, yaml_error=None):
        self.created_ms, self.source, self.ref, self.sha, self.before_sha = created_ms, source, ref, sha_, before_sha
        self.user, self.name, self.stages, self.yaml_error = user, name, stages, yaml_error
        self.actions: list[tuple[int, str, object]] = []


# --- runtime records --------------------------------------------------------------------------


class Job:
    """A build or a bridge (``Ci::Processable``), with its status history."""

    __slots__ = (
        "attempt",
        "cache",
        "downstream",
        "finished_ms",
        "hist",
        "id",
        "kind",
        "pipeline",
        "queued_ms",
        "retried_ms",
        "spec",
        "started_ms",
        "status",
        "user",
    )

    def __init__(self, jid, pipeline, spec: JobSpec, attempt: Attempt, created_ms: int, user: User):
        self.id, self.pipeline, self.spec, self.attempt, self.user = jid, pipeline, spec, attempt, user
        self.kind = spec.kind
        self.hist = [(created_ms, "created")]
        self.status = "created"
        self.queued_ms: int | None = None
        self.started_ms: int | None = None
        self.finished_ms: int | None = None
        self.retried_ms: int | None = None
        self.downstream: Pipeline | None = None
        self.cache: tuple[int | None, bytes] | None = None

    name = property(lambda self: self.spec.name)
    stage = property(lambda self: self.spec.stage)
    allow_failure = property(lambda self: self.spec.allow_failure)
    created_ms = property(lambda self: self.hist[0][0])

    @property
    def retried(self) -> bool:
        return self.retried_ms is not None

    @property
    def coverage(self):
        return self.attempt.coverage if self.status in ("success", "failed") and self.kind == "build" else None

    def set(self, status: str, t: int) -> None:
        """A CommitStatus transition: ``queued_at`` on -> pending, ``started_at`` on -> running,
        ``finished_at`` on -> success/failed/canceled (``app/models/commit_status.rb``)."""
        self.hist.append((t, status))
        self.status = status
        if status == "pending" and self.queued_ms is None:
            self.queued_ms = t
        elif status == "running" and self.started_ms is None:
            self.started_ms = t
        elif status in ("success", "failed", "canceled"):
            self.finished_ms = t
        self.cache = None
        self.pipeline.touched()


class Pipeline:
    __slots__ = (
        "basic_obj",
        "bridges",
        "children",
        "ci",
        "commit_obj",
        "detail_bytes",
        "duration",
        "finished_ms",
        "hist",
        "id",
        "iid",
        "jobs",
        "list_bytes",
        "next_stage",
        "parent",
        "proc_at",
        "proc_n",
        "project",
        "script",
        "started_ms",
        "status",
        "updated_ms",
    )

    def __init__(self, ci, iid, script: Script, created_ms: int, parent: Job | None):
        self.ci, self.project, self.script, self.parent = ci, ci.project, script, parent
        self.iid = iid
        self.id = ci.project.id * 1000 + iid
        self.hist = [(created_ms, "created")]
        self.status = "created"
        self.updated_ms = created_ms
        self.started_ms: int | None = None
        self.finished_ms: int | None = None
        self.duration: int | None = None
        self.jobs: list[Job] = []      # builds, retried ones included, in creation order
        self.bridges: list[Job] = []
        self.children: list[Pipeline] = []
        self.next_stage = 0
        self.proc_at: int | None = None
        self.proc_n = 0
        self.list_bytes: bytes | None = None
        self.detail_bytes: bytes | None = None
        self.commit_obj: dict | None = None
        self.basic_obj: dict | None = None

    source = property(lambda self: "parent_pipeline" if self.parent is not None else self.script.source)
    ref = property(lambda self: self.script.ref)
    sha = property(lambda self: self.script.sha)
    user = property(lambda self: self.script.user)
    created_ms = property(lambda self: self.hist[0][0])

    @property
    def tag(self) -> bool:
        ref = self.script.ref
        return ref.startswith("v") and ref[1:2].isdigit()

    def latest(self) -> list[Job]:
        return [j for j in self.jobs + self.bridges if j.retried_ms is None]

    def self_and_descendants(self) -> list[Pipeline]:
        out = [self]
        for child in self.children:
            out.extend(child.self_and_descendants())
        return out

    def touched(self) -> None:
        """Something this pipeline shows changed: drop its cached JSON (jobs embed it too)."""
        self.list_bytes = self.detail_bytes = self.basic_obj = None
        for j in self.jobs:
            j.cache = None
        for b in self.bridges:
            b.cache = None
        if self.parent is not None:  # the parent's bridge embeds this pipeline as downstream_pipeline
            self.parent.cache = None
        self.ci.version += 1

    @property
    def queued_duration(self):
        """``Ci::Pipeline#queued_duration``: whole seconds, nil if not started or zero."""
        if self.started_ms is None:
            return None
        seconds = (self.started_ms - self.created_ms) // 1000
        return seconds or None

    @property
    def coverage(self):
        """``Ci::Pipeline#coverage`` through ``Ci::PipelinePresenter#coverage``: '%.2f' or None."""
        values = [j.coverage for j in self.latest() if j.coverage is not None]
        if not values:
            return None
        return "%.2f" % (math.fsum(values) / len(values))

    def duration_at(self, t: int) -> int:
        """``Duration.from_pipeline`` evaluated at instant ``t`` (see the module docstring)."""
        periods: list[tuple[int, int]] = []
        for p in self.self_and_descendants():
            for j in p.jobs:
                if j.retried_ms is None and j.status in DURATION_STATUSES and j.started_ms is not None:
                    end = j.finished_ms if j.status != "running" and j.finished_ms is not None else t
                    periods.append((j.started_ms, end))
        return union_ms(periods) // 1000

    def transition(self, new: str, t: int) -> None:
        """The pipeline state machine's callbacks (``app/models/ci/pipeline.rb``)."""
        old = self.status
        if new == "running" and old in ("created", "waiting_for_resource", "preparing", "pending") \
                and self.started_ms is None:
            self.started_ms = t
        if new in ("success", "failed", "canceled"):
            self.finished_ms = t
            if self.started_ms is not None:
                self.duration = self.duration_at(t)
        elif new == "manual" and self.started_ms is not None:
            self.duration = self.duration_at(t)
        self.hist.append((t, new))
        self.status = new
        self.updated_ms = t
        self.touched()


# --- the engine -------------------------------------------------------------------------------


class ProjectCI:
    """All pipelines of one project and the events still to come that drive them."""

    def __init__(self, project: Project, seed: int):
        self.project = project
        self.seed = seed
        self.pipelines: list[Pipeline] = []   # creation (iid) order, children included
        self.queue: list = []
        self._n = 0
        self.next_iid = 1
        self.next_job = 1
        self.until: int | None = None
        self.version = 0

    # -- scheduling --------------------------------------------------------------------------

    def push(self, t: int, kind: str, obj, arg=None) -> None:
        self._n += 1
        heapq.heappush(self.queue, (int(t), self._n, kind, obj, arg))

    def add(self, script: Script) -> None:
        self.push(script.created_ms, "create", script)

    def run_until(self, until: int) -> None:
        q = self.queue
        while q and q[0][0] <= until:
            t, _, kind, obj, arg = heapq.heappop(q)
            getattr(self, "_on_" + kind)(t, obj, arg)
        self.until = until

    def _lag(self, p: Pipeline) -> int:
        p.proc_n += 1
        return spread(p.id * 131 + p.proc_n, 150, 1450)

    def _mark(self, p: Pipeline, t: int) -> None:
        """Schedule asynchronous processing of ``p`` (unless already pending)."""
        if p.proc_at is None:
            at = t + self._lag(p)
            p.proc_at = at
            self.push(at, "process", p)

    # -- creation ----------------------------------------------------------------------------

    def _new_pipeline(self, script: Script, t: int, parent: Job | None) -> Pipeline:
        if self.next_iid > MAX_PIPELINES:
            raise ValueError(f"project {self.project.id} has reached {MAX_PIPELINES} pipelines")
        p = Pipeline(self, self.next_iid, script, t, parent)
        self.next_iid += 1
        self.pipelines.append(p)
        for stage in script.stages:
            for spec in stage:
                self._new_job(p, spec, spec.attempts[0] if spec.attempts else None, t, script.user)
        self.version += 1
        return p

    def _new_job(self, p: Pipeline, spec: JobSpec, attempt, t: int, user: User) -> Job:
        if self.next_job > MAX_JOBS:
            raise ValueError(f"project {self.project.id} has reached {MAX_JOBS} jobs")
        if attempt is None:
            attempt = self.extra_attempt(spec, self.next_job)
        j = Job(self.project.id * 100_000 + self.next_job, p, spec, attempt, t, user)
        self.next_job += 1
        (p.bridges if spec.kind == "bridge" else p.jobs).append(j)
        return j

    def extra_attempt(self, spec: JobSpec, n: int) -> Attempt:
        """An attempt no script planned (a retry asked for later): succeeds, timings from the job's number."""
        x = self.project.id * 7919 + n
        return Attempt("success", spread(x, 1_000, 30_000), spread(x + 1, 20_000, 600_000),
                       coverage=round(55 + spread(x + 2, 0, 4400) / 100, 2) if spec.name.startswith("Test") else None)

    def _on_create(self, t, script: Script, _arg) -> None:
        p = self._new_pipeline(script, t, None)
        for at, kind, arg in script.actions:
            self.push(at, kind, p, arg)
        self._mark(p, t)

    def _on_child(self, t, bridge: Job, _arg) -> None:
        if bridge.status != "pending" or bridge.retried_ms is not None:
            return
        child = self._new_pipeline(bridge.spec.child, t, bridge)
        bridge.downstream = child
        bridge.pipeline.children.append(child)
        if not bridge.spec.depend:
            bridge.set("success", t)
            self._mark(bridge.pipeline, t)
        self._mark(child, t)

    # -- job events --------------------------------------------------------------------------

    def _on_start(self, t, job: Job, _arg) -> None:
        if job.status == "pending" and job.retried_ms is None:
            job.set("running", t)
            self.push(t + job.attempt.run_ms, "finish", job)
            self._mark(job.pipeline, t)

    def _on_finish(self, t, job: Job, _arg) -> None:
        if job.status != "running":
            return
        a = job.attempt
        job.set(a.fate, t)
        if a.fate == "failed" and a.auto_retry:
            self._retry(job, t, job.user)
        self._mark(job.pipeline, t)

    def _retry(self, job: Job, t: int, user: User) -> Job:
        """``Ci::RetryJobService``: a clone (new id) enqueued now; the old job becomes retried."""
        spec = job.spec
        idx = spec.attempts.index(job.attempt) + 1 if job.attempt in spec.attempts else len(spec.attempts)
        attempt = spec.attempts[idx] if idx < len(spec.attempts) else None
        clone = self._new_job(job.pipeline, spec, attempt, t, user)
        job.retried_ms = t
        job.cache = None
        clone.set("pending", t)
        self.push(t + clone.attempt.wait_ms, "start", clone)
        return clone

    def _on_retry(self, t, p: Pipeline, arg) -> None:
        name, user = arg
        target = next((j for j in reversed(p.jobs) if j.name == name and j.retried_ms is None), None)
        if target is None or target.status not in ("failed", "canceled", "success"):
            return
        self.retry(target, t, user)

    def retry(self, job: Job, t: int, user: User) -> Job:
        """A user retries ``job`` at ``t``: clone, reset later skipped jobs, reprocess the pipeline,
        and put a waiting upstream bridge back to pending (``Ci::Pipeline#reset_source_bridge!``)."""
        p = job.pipeline
        clone = self._retry(job, t, user)
        self._reopen(p, job.spec.stage_idx, t)
        return clone

    def _reopen(self, p: Pipeline, stage_idx: int, t: int) -> None:
        for j in p.latest():
            if j.spec.stage_idx > stage_idx and j.status == "skipped":
                j.set("created", t)  # Ci::ResetSkippedJobsService / AfterRequeueJobService
        p.next_stage = min(p.next_stage, stage_idx + 1)
        self._mark(p, t)
        bridge = p.parent
        if bridge is not None and bridge.spec.depend and bridge.retried_ms is None and bridge.status in COMPLETED:
            bridge.set("pending", t)   # Ci::EnqueueJobService(source_bridge).execute(&:pending!)
            self._reopen(bridge.pipeline, bridge.spec.stage_idx, t)

    def _on_play(self, t, p: Pipeline, arg) -> None:
        name, user = arg
        for j in p.latest():
            if j.name == name and j.status == "manual":
                j.user = user
                j.set("pending", t)
                self.push(t + j.attempt.wait_ms, "start", j)
                self._mark(p, t)

    def _on_cancel(self, t, p: Pipeline, _arg) -> None:
        for q in p.self_and_descendants():
            hit = False
            for j in q.latest():
                if j.status in CANCELABLE:
                    j.set("canceled", t)
                    hit = True
            if hit:
                self._mark(q, t)

    # -- processing --------------------------------------------------------------------------

    def _on_process(self, t, p: Pipeline, _arg) -> None:
        p.proc_at = None
        if p.script.yaml_error:
            if p.status == "created":
                p.transition("failed", t)  # Chain::Helpers#error -> drop!: no jobs, never started
            return
        self._advance_stages(p, t)
        new = composite(p.latest())
        if new is not None and new != p.status:
            p.transition(new, t)
        bridge = p.parent
        if bridge is not None and bridge.spec.depend and bridge.retried_ms is None:
            mirrored = {"running": "running", "success": "success", "failed": "failed", "skipped": "failed",
                        "canceled": "canceled"}.get(p.status)
            if mirrored and mirrored != bridge.status and bridge.status not in COMPLETED:
                bridge.set(mirrored, t)
                self._mark(bridge.pipeline, t)

    def _advance_stages(self, p: Pipeline, t: int) -> None:
        stages = p.script.stages
        while p.next_stage < len(stages):
            if p.next_stage > 0 and not self._stage_complete(p, p.next_stage - 1):
                return
            failed = any(j.status == "failed" and not j.allow_failure for j in p.latest()
                         if j.spec.stage_idx < p.next_stage)
            self._enqueue(p, p.next_stage, t, failed)
            p.next_stage += 1

    @staticmethod
    def _stage_complete(p: Pipeline, idx: int) -> bool:
        for j in p.latest():
            if j.spec.stage_idx != idx:
                continue
            if j.status in COMPLETED or (j.status == "manual" and j.allow_failure):
                continue
            return False
        return True

    def _enqueue(self, p: Pipeline, idx: int, t: int, failed: bool) -> None:
        for j in p.latest():
            if j.spec.stage_idx != idx or j.status != "created":
                continue
            when = j.spec.when
            if when == "on_failure":
                run = failed
            elif failed:
                run = False
            else:
                run = True
            if not run:
                j.set("skipped", t)
            elif when == "manual":
                j.set("manual", t)
            else:
                j.set("pending", t)
                if j.kind == "bridge":
                    self.push(t + self._lag(p), "child", j)
                else:
                    self.push(t + j.attempt.wait_ms, "start", j)

    # -- views -------------------------------------------------------------------------------

    def builds(self) -> list[Job]:
        """Every build of the project (child pipelines' and retried ones included), newest first:
        ``GET /projects/:id/jobs`` (``user_project.builds.order(id: :desc)``, lib/api/ci/jobs.rb)."""
        out = [j for p in self.pipelines for j in p.jobs]
        out.sort(key=lambda j: -j.id)
        return out

    def pipeline(self, pid: int) -> Pipeline | None:
        iid = pid - self.project.id * 1000
        if 1 <= iid <= len(self.pipelines):
            p = self.pipelines[iid - 1]
            if p.id == pid:
                return p
        return None


# --- planning a project's history -------------------------------------------------------------


class CIConfig:
    """How a tenant's pipelines look: counts, and the shares of child pipelines and retries."""

    def __init__(self, pipelines_per_project=(0, 6), jobs_per_pipeline=(1, 4), child_share=0.0, retry_share=0.06,
                 manual_retry_share=0.3):
        self.pipelines_per_project = tuple(pipelines_per_project)
        self.jobs_per_pipeline = tuple(jobs_per_pipeline)
        self.child_share, self.retry_share, self.manual_retry_share = child_share, retry_share, manual_retry_share


def _attempt(rng, name, fate="success", reason=None, auto_retry=False) -> Attempt:
    coverage = round(rng.uniform(55, 99), 2) if name.startswith("Test") and rng.random() < 0.8 else None
    wait = rng.randint(100, 900) if rng.random() < 0.25 else rng.randint(900, 40_000)  # a warm runner starts at once
    return Attempt(fate, wait, rng.randint(20_000, 900_000), reason, coverage, auto_retry)


def plan_stages(rng, cfg: CIConfig, outcome: str, child_ok: bool) -> tuple[list[list[JobSpec]], int | None]:
    """The stages of a pipeline meant to end ``outcome``; returns (stages, cancel fraction or None)."""
    lo, hi = cfg.jobs_per_pipeline
    k = rng.randint(lo, hi)
    idx = sorted(rng.sample(range(len(JOB_TEMPLATE)), min(k, len(JOB_TEMPLATE))))
    template = [JOB_TEMPLATE[i] for i in idx]
    while len(template) < k:
        template.append(("Data Transformation", f"Build Models {len(template) + 1}"))
    names: list[str] = []
    by_stage: dict[str, list[str]] = {}
    for stage, name in template:
        if stage not in by_stage:
            names.append(stage)
            by_stage[stage] = []
        by_stage[stage].append(name)
    if outcome == "manual":
        at = rng.randrange(len(names) + 1)
        names.insert(at, "Approval")
        by_stage["Approval"] = ["Approve Deployment"]
    bridge_stage = None
    if child_ok and len(names) >= 1 and rng.random() < cfg.child_share:
        bridge_stage = rng.randrange(len(names))
    stages: list[list[JobSpec]] = []
    fail_at = None
    builds = [(si, n) for si, s in enumerate(names) for n in by_stage[s] if n != "Approve Deployment"]
    if outcome == "failed" and builds:
        fail_at = rng.choice(builds)
    for si, stage in enumerate(names):
        specs = []
        for name in by_stage[stage]:
            if name == "Approve Deployment":
                specs.append(JobSpec(name, stage, si, when="manual", attempts=[_attempt(rng, name)]))
                continue
            when = "on_failure" if outcome == "skipped" else "on_success"
            allow_failure = name.startswith("Run Soda")
            if (si, name) == fail_at:
                attempts = [_attempt(rng, name, "failed", "script_failure")]
                if rng.random() < cfg.manual_retry_share:
                    attempts.append(_attempt(rng, name))
            elif outcome != "skipped" and rng.random() < cfg.retry_share:
                attempts = [_attempt(rng, name, "failed", "runner_system_failure", auto_retry=True),
                            _attempt(rng, name)]
            elif allow_failure and rng.random() < 0.2:
                attempts = [_attempt(rng, name, "failed", "script_failure")]
            else:
                attempts = [_attempt(rng, name)]
            if name.startswith("Clean Up") and outcome == "success" and rng.random() < 0.3:
                specs.append(JobSpec(name, stage, si, when="manual", allow_failure=True, attempts=attempts))
            else:
                specs.append(JobSpec(name, stage, si, when=when, allow_failure=allow_failure, attempts=attempts))
        if si == bridge_stage:
            child_stages, _ = plan_stages(rng, CIConfig((0, 0), (1, 3), 0.0, cfg.retry_share, 0.0),
                                          "failed" if outcome == "failed" and rng.random() < 0.3 else "success", False)
            child = Script(0, "parent_pipeline", "", "", "0" * 40, None, None, child_stages)
            specs.append(JobSpec("Trigger Data Products", stage, si, kind="bridge", attempts=[Attempt("success", 0, 0)],
                                 child=child, depend=rng.random() < 0.5))
        stages.append(specs)
    return stages, (rng.uniform(0.1, 0.9) if outcome == "canceled" else None)


def make_script(rng, cfg: CIConfig, project: Project, created: int, source: str, user: User, outcome=None,
                ref=None, child_ok=True, retry_user: User | None = None) -> Script:
    """One pipeline of ``project`` created at ``created``; ``outcome`` drawn unless given."""
    outcome = outcome or pick(rng, STATUS_WEIGHTS)
    if ref is None:
        ref = project.default_branch or "main"
        r = rng.random()
        if r < 0.15:
            ref = f"feature/{rng.choice(('add', 'fix', 'update', 'refactor'))}-{slug(rng.choice(DOMAINS))}"
        elif r < 0.2:
            ref = f"v{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    sha_ = sha(rng)
    before = sha(rng) if source == "push" else "0" * 40
    name = rng.choice(PIPELINE_NAMES)
    if outcome == "failed" and rng.random() < 0.1:
        return Script(created, source, ref, sha_, before, user, name, [],
                      yaml_error="jobs:build all models config contains unknown keys: scripts")
    stages, cancel_frac = plan_stages(rng, cfg, outcome, child_ok)
    script = Script(created, source, ref, sha_, before, user, name, stages)
    expected = sum(max((a.wait_ms + a.run_ms for s in st for a in s.attempts[:1]), default=0) for st in stages)
    if cancel_frac is not None:
        script.actions.append((created + 2_000 + int(expected * cancel_frac), "cancel", None))
    for st in stages:
        for spec in st:
            if spec.child is not None:
                spec.child.ref, spec.child.sha, spec.child.user = ref, sha_, user
            if len(spec.attempts) > 1 and not spec.attempts[0].auto_retry:
                # a failed job the team retries by hand some time after the pipeline failed
                at = created + expected + rng.randint(5 * 60_000, 2 * DAY_MS)
                script.actions.append((at, "retry", (spec.name, retry_user or user)))
    return script


def plan_history(rng, cfg: CIConfig, project: Project, users: list[User], anchor: int) -> list[Script]:
    """A project's pipelines up to ``anchor``: pushes, merge requests and the like up to its last
    activity (they come with the events that moved it), scheduled and API/web/trigger runs at any
    time, since pipelines never move ``last_activity_at``."""
    if project.ci_disabled or project.not_found or project.empty_repo or not users:
        return []
    lo, hi = cfg.pipelines_per_project
    n = rng.randint(lo, hi)
    if n == 0:
        return []
    start, last = project.created_ms, project.gen_last_activity_ms
    scripts = []
    for i in range(n):
        newest = i == n - 1
        source = "push" if newest else pick(rng, SOURCES)
        if newest:
            created = max(start, last - rng.randint(60, 1800) * 1000)
        elif source in ("schedule", "web", "api", "trigger"):
            created = start + int(rng.random() * max(1, anchor - HOUR_MS - start))
        else:
            created = start + int(rng.random() * max(1, last - start))
        user = rng.choice(users)
        scripts.append(make_script(rng, cfg, project, created, source, user, retry_user=rng.choice(users)))
    scripts.sort(key=lambda s: s.created_ms)
    return scripts


# --- rendering --------------------------------------------------------------------------------

_LABELS = {"success": "passed", "failed": "failed", "canceled": "canceled", "skipped": "skipped",
           "running": "running", "pending": "pending", "created": "created", "manual": "manual action",
           "scheduled": "delayed", "preparing": "preparing", "waiting_for_resource": "waiting for resource"}


def pipeline_basic(p: Pipeline) -> dict:
    """``API::Entities::Ci::PipelineBasic`` (embedded in jobs and bridges; a fresh copy each time)."""
    found = p.basic_obj
    if found is None:
        found = p.basic_obj = {
            "id": p.id, "iid": p.iid, "project_id": p.project.id, "sha": p.sha, "ref": p.ref, "status": p.status,
            "source": p.source, "created_at": iso(p.created_ms), "updated_at": iso(p.updated_ms),
            "web_url": f"{p.project.web_url}/-/pipelines/{p.id}"}
    return dict(found)


def pipeline_list_json(p: Pipeline) -> bytes:
    """``PipelineBasicWithMetadata``: the list object (PipelineBasic plus ``name``)."""
    data = p.list_bytes
    if data is None:
        d = pipeline_basic(p)
        d["name"] = p.script.name
        data = p.list_bytes = jbytes(d)
    return data


def pipeline_detail(p: Pipeline) -> dict:
    """``PipelineWithMetadata`` (``API::Entities::Ci::Pipeline`` plus ``name``), lib/api/entities/ci/pipeline.rb."""
    d = pipeline_basic(p)
    st = p.status
    label = _LABELS.get(st, st)
    path = f"/{p.project.path_with_namespace}/-/pipelines/{p.id}"
    d.update({
        "name": p.script.name, "before_sha": p.script.before_sha, "tag": p.tag, "yaml_errors": p.script.yaml_error,
        "user": p.user.basic(), "started_at": iso(p.started_ms), "finished_at": iso(p.finished_ms),
        "committed_at": None, "duration": p.duration, "queued_duration": p.queued_duration, "coverage": p.coverage,
        "detailed_status": {
            "icon": f"status_{st}", "text": label.split()[0].capitalize(), "label": label, "group": st,
            "tooltip": label, "has_details": True, "details_path": path,
            "illustration": {
                "image": f"/assets/illustrations/empty-state/empty-job-{st}-md.svg", "size": "",
                "title": f"This pipeline is {label}", "content": None,
            } if st in ("skipped", "manual", "running", "pending", "created") else None,
            "favicon": f"/assets/ci_favicons/favicon_status_{st}.png",
            "action": {
                "icon": "cancel", "title": "Cancel", "path": f"{path}/cancel", "method": "post",
                "button_title": "Cancel pipeline", "confirmation_message": None,
            } if st in ("running", "pending", "created") else ({
                "icon": "retry", "title": "Retry", "path": f"{path}/retry", "method": "post",
                "button_title": "Retry pipeline", "confirmation_message": None,
            } if st in ("failed", "canceled") else None),
        },
        "archived": False,
    })
    return d


def pipeline_detail_json(p: Pipeline) -> bytes:
    data = p.detail_bytes
    if data is None:
        data = p.detail_bytes = jbytes(pipeline_detail(p))
    return data


def _commit(p: Pipeline) -> dict:
    found = p.commit_obj
    if found is None:
        u, s, name = p.user, p.script, p.project.name.lower()
        committed = iso(p.created_ms - spread(p.id, 5_000, 600_000))
        found = p.commit_obj = {
            "id": s.sha, "short_id": s.sha[:8], "created_at": committed, "parent_ids": [s.before_sha],
            "title": f"Update {name} models", "message": f"Update {name} models\n", "author_name": u.name,
            "author_email": f"{u.username}@example.com", "authored_date": committed, "committer_name": u.name,
            "committer_email": f"{u.username}@example.com", "committed_date": committed, "trailers": {},
            "extended_trailers": {}, "web_url": f"{p.project.web_url}/-/commit/{s.sha}",
        }
    return found


def _seconds(start, end, clock):
    """``calculate_duration``: float seconds from start to end (or to now), nil without a start."""
    if start is None:
        return None
    return round(((end if end is not None else clock) - start) / 1000, 3)


def _clock_dependent(j: Job) -> bool:
    return (j.started_ms is not None and j.finished_ms is None) or (j.queued_ms is not None and j.started_ms is None)


def job_basic(j: Job, clock: int) -> dict:
    """``API::Entities::Ci::JobBasic`` (lib/api/entities/ci/job_basic.rb)."""
    p = j.pipeline
    d = {
        "id": j.id, "status": j.status, "stage": j.stage, "name": j.name, "ref": p.ref, "tag": p.tag,
        "coverage": j.coverage, "allow_failure": j.allow_failure, "source": p.source,
        "created_at": iso(j.created_ms), "started_at": iso(j.started_ms), "finished_at": iso(j.finished_ms),
        "erased_at": None,
        "duration": _seconds(j.started_ms, j.finished_ms, clock),
        "queued_duration": _seconds(j.queued_ms, j.started_ms, clock),
        "user": j.user.full(), "commit": _commit(p), "pipeline": pipeline_basic(p),
        "web_url": f"{p.project.web_url}/-/jobs/{j.id}",
        "project": JOB_PROJECT,
    }
    if j.status == "failed":  # expose :failure_reason, if: ->(job) { job.failed? }
        d["failure_reason"] = j.attempt.failure_reason or FAILURE_REASONS[0]
    return d


def job_record(j: Job, clock: int) -> dict:
    """``API::Entities::Ci::Job`` for a build; ``API::Entities::Ci::Bridge`` for a bridge."""
    d = job_basic(j, clock)
    if j.kind == "bridge":
        d["downstream_pipeline"] = pipeline_basic(j.downstream) if j.downstream is not None else None
        return d
    ran = j.started_ms is not None
    done = ran and j.status in ("success", "failed", "canceled")
    x = j.id
    runner_id = (11, 12, 13, 27, 41)[x % 5]
    has_artifacts = done and j.status != "canceled" and spread(x, 0, 10) < 6
    size = spread(x + 3, 500, 5_000_000)
    trace = {"file_type": "trace", "size": spread(x + 5, 2000, 90000), "filename": "job.log", "file_format": None}
    if has_artifacts:  # expose :artifacts_file, if: -> (job, opts) { job.artifacts? }
        d["artifacts_file"] = {"filename": "artifacts.zip", "size": size}
    d.update({
        "artifacts": ([{"file_type": "archive", "size": size, "filename": "artifacts.zip", "file_format": "zip"}, trace]
                      if has_artifacts else ([trace] if ran else [])),
        "runner": {
            "id": runner_id, "description": f"dataops-runner-{runner_id}", "ip_address": None, "active": True,
            "paused": False, "is_shared": runner_id < 20,
            "runner_type": "instance_type" if runner_id < 20 else "group_type",
            "name": "gitlab-runner", "online": True, "status": "online",
        } if ran else None,
        "runner_manager": {
            "id": runner_id * 10, "system_id": f"r_{runner_id:012x}", "version": "17.5.0", "revision": "8ec04662",
            "platform": "linux", "architecture": "amd64", "created_at": iso(j.created_ms - 90 * DAY_MS),
            "contacted_at": iso(j.started_ms), "ip_address": f"10.0.0.{runner_id}", "status": "online",
        } if ran else None,
        "artifacts_expire_at": iso((j.finished_ms or j.created_ms) + 30 * DAY_MS) if has_artifacts else None,
        "archived": False,
        "tag_list": ["dataops-runner"] if ran else [],
    })
    return d


def job_json(j: Job, clock: int) -> bytes:
    cached = j.cache
    if cached is not None and (cached[0] is None or cached[0] == clock):
        return cached[1]
    data = jbytes(job_record(j, clock))
    j.cache = (clock if _clock_dependent(j) else None, data)
    return data
