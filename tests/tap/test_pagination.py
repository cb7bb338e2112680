"""Every record exactly once: large tenants, offset caps, listings that change mid-sync."""

from __future__ import annotations

import math

from tests.pipeline.harness import when
from tests.tap.helpers import catalog_for, duplicates, run_tap, sim_config


def test_more_than_ten_thousand_projects_past_the_offset_cap_exactly_once(simulator):
    # X-Total is omitted past count_limit, and offset pagination would hit the 405 cap:
    # the tap must walk the keyset cursor the server reports.
    sim = simulator(projects=10_250, offset_cap=5_000, rate_limit=None)
    config = sim_config(sim)
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr[-2000:]
    ids = run.ids("projects")
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(p["id"] for p in sim.truth("projects"))
    listing = [r for r in sim.requests if r.path.endswith("/projects")]
    assert all(r.query.get("per_page") == "100" for r in listing)
    assert all(r.query.get("pagination") == "keyset" for r in listing)
    assert len(listing) == math.ceil(len(ids) / 100)  # no request the data does not need
    assert {r.status for r in listing} == {200}


def test_page_size_setting_is_sent_as_per_page(simulator):
    sim = simulator(projects=45, rate_limit=None)
    config = sim_config(sim, page_size=20)
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids("projects")) == sorted(p["id"] for p in sim.truth("projects"))
    listing = [r for r in sim.requests if r.path.endswith("/projects")]
    pages = math.ceil(len(sim.truth("projects")) / 20)
    assert pages > 1 and [r.query.get("per_page") for r in listing] == ["20"] * pages


def test_projects_created_and_deleted_mid_listing(simulator):
    """In the instance scope (an administrator's whole instance: new projects are in it)."""
    sim = simulator(projects=1_000, rate_limit=None)
    before = sorted(p["id"] for p in sim.truth("projects", scope="instance"))
    deleted_early = before[:30]  # on pages already read when the change happens
    deleted_late = before[-30:]  # on pages not read yet
    created: list[int] = []

    def change(tenant):
        tenant.delete_projects(deleted_early + deleted_late)
        created.extend(tenant.create_projects(25))

    sim.after_requests(3, change)
    config = sim_config(sim, scope="instance")
    run = run_tap(config, catalog=catalog_for(["projects"], config))
    assert run.returncode == 0, run.stderr
    ids = run.ids("projects")
    assert duplicates(ids) == []
    survivors = set(before) - set(deleted_early) - set(deleted_late)
    assert survivors <= set(ids), "a project present throughout the sync was missed"
    assert not set(deleted_late) & set(ids), "a project deleted before its page was read was emitted"
    assert set(created) <= set(ids), "projects created mid-listing (new ids come last) were missed"


def test_namespaces_listing_that_shrinks_mid_walk_loses_nothing(simulator):
    # Offset pages: deleting namespaces on a page already read shifts the next page back by
    # as many records, which a plain offset walk would skip.
    sim = simulator(projects=600, rate_limit=None)
    namespaces = sim.truth("namespaces", scope="instance")  # every namespace: the instance scope
    holding_projects = {p["namespace"]["id"] for p in sim.truth("projects", scope="instance")}
    empty = [n["id"] for n in namespaces if n["id"] not in holding_projects and n["kind"] == "user"]
    config = sim_config(sim, page_size=20, scope="instance")

    catalog = catalog_for(["namespaces"], config)
    first_page = sorted(n["id"] for n in namespaces)[:20]
    deleted = [i for i in empty if i in first_page][:3]
    assert len(namespaces) > 60 and deleted, "the test needs several pages and empty namespaces on page 1"
    # Right after the namespaces listing's second page (the projects and groups listings,
    # which the namespaces in scope are made from, come first).
    when(sim, lambda served: sum(r.path.endswith("/namespaces") for r in served) == 2,
         lambda: sim.tenant.delete_namespaces(deleted))

    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    ids = run.ids("namespaces")
    assert duplicates(ids) == []
    survivors = {n["id"] for n in namespaces} - set(deleted)
    assert survivors <= set(ids), f"missed {sorted(survivors - set(ids))}"
    pages = [r for r in sim.requests if r.path.endswith("/namespaces")]
    assert [r.query.get("page", "1") for r in pages].count("1") == 2, "the listing was not read again from page 1"
