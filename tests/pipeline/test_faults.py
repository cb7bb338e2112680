"""A misbehaving server: the landed tables equal the truth, or the run fails loudly.

Each seed runs ``tap-dataops | target-dataops-duckdb`` against a simulator that fails 5% of
requests at random (500, 502 with an HTML page, 503 with Retry-After, connection resets,
stalls past request_timeout, truncated JSON, empty bodies, 429), gets one of every kind
injected on top and a burst of 429s, and has its listings changed while they are read:

- /namespaces (offset pages) loses two namespaces after its second page was answered: one
  on the pages already read and one on a later page (not yet read);
- /projects (keyset pages) loses a project on its first page (already read) and one on
  its last page, and gains three new projects, after its first page was answered.

What is expected, precisely:
- a record deleted *before* the listing reached it is absent;
- a record deleted *after* it was read stays in the table, as it was read (the next run's
  complete listing removes it; a project deleted after it was listed has no children: they
  answer 404);
- a record created before the listing reached its position is present, with its children;
- every other record is present exactly once, every field equal to the API's value.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dataops_simulator.faults import FAULT_KINDS
from tests.pipeline.harness import PARENT_STREAMS, Pipeline, expected_all, when

SEEDS = (1, 2, 3)
PAGE = 10


def page_answered(path: str, page: int = 1):
    """Predicate: this page of this listing has been answered (200, no fault)."""

    def is_page(query: dict) -> bool:
        if page == 1:
            return not {"page", "id_after"} & set(query)
        return query.get("page") == str(page)

    def predicate(requests: list) -> bool:
        return any(r.path == path and r.status == 200 and r.fault is None and is_page(r.query)
                   for r in requests[-16:])

    return predicate


@pytest.mark.parametrize("seed", SEEDS)
def test_faults_429_bursts_and_changing_listings_land_exactly_the_truth(simulator, tmp_path, seed):
    sim = simulator(projects=40, seed=seed, rate_limit=None, fault_rate=0.05, fault_seed=seed, stall_seconds=1.5,
                    pipelines_per_project=(0, 3))
    tenant = sim.tenant

    # One of every kind for sure, at fixed points, on top of the random 5%; and a burst of 429s.
    for n, kind in enumerate(FAULT_KINDS):
        sim.after_requests(15 + 20 * n, lambda _t, kind=kind: sim.inject(kind, count=1))
    sim.after_requests(60, lambda _t: sim.inject("429", count=3, retry_after=1))

    # The instance scope (an administrator's whole instance): every namespace is listed,
    # empty personal ones included, so the namespaces listing has offset pages to shift.
    # -- the namespaces listing changes after its second page --------------------------------
    order = [n["id"] for n in sim.truth("namespaces", scope="instance")]
    empty_users = [i for i in order if tenant.namespaces[i].kind == "user"
                   and not tenant.namespaces[i].project_ids and not tenant.namespaces[i].children]
    ns_read = next(i for i in empty_users if order.index(i) < 2 * PAGE)
    ns_unread = next(i for i in reversed(empty_users) if order.index(i) >= 2 * PAGE)
    ns_read_record = next(n for n in sim.truth("namespaces", scope="instance") if n["id"] == ns_read)
    when(sim, page_answered("/api/v4/namespaces", 2), lambda: tenant.delete_namespaces([ns_read, ns_unread]))

    # -- the projects listing changes after its first page -----------------------------------
    projects = tenant.project_ids()
    readable = sorted(set(projects[:PAGE]) - tenant.not_found_ids - tenant.ci_disabled_ids)
    p_read, p_unread = readable[2], projects[-2]
    p_read_record = next(p for p in sim.truth("projects", scope="instance") if p["id"] == p_read)
    created: list[int] = []

    def change_projects() -> None:
        tenant.delete_projects([p_read, p_unread])
        created.extend(tenant.create_projects(3))

    when(sim, page_answered("/api/v4/projects"), change_projects)

    pipeline = Pipeline(sim, tmp_path, tap={"request_timeout": 1, "page_size": PAGE, "scope": "instance"},
                        loader={"batch_size_rows": 100})
    run = pipeline.run(timeout=240)
    assert run.ok, run.describe()
    assert "Traceback" not in run.tap_stderr + run.loader_stderr

    assert created, "the projects listing was never changed"
    faults = Counter(r.fault for r in sim.requests if r.fault)
    assert set(faults) == set(FAULT_KINDS), faults
    assert "retrying in" in run.tap_stderr and "rate limited (429)" in run.tap_stderr

    # Groups and namespaces are read after the projects listing (its changes are in them).
    want = expected_all(sim, scope="instance")
    want["namespaces"] = [*want["namespaces"], ns_read_record]
    want["projects"] = [*want["projects"], p_read_record]

    assert {p["id"] for p in want["projects"]} >= set(created)
    assert ns_unread not in {n["id"] for n in want["namespaces"]}
    assert p_unread not in {p["id"] for p in want["projects"]}
    assert any(m["project_id"] in created for m in want["project_members"])
    pipeline.assert_equals_truth(want)
    # The project deleted after it was read has no children: they answered 404.
    for stream in ("project_members", "pipelines", "jobs"):
        assert p_read not in {r["project_id"] for r in pipeline.rows(stream)}
    assert set(PARENT_STREAMS) <= set(want)
