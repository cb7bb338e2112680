"""The shared-instance layout: built fast, deterministic, realistic, and served by the CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from dataops_simulator import Simulator
from dataops_simulator.instance import TOKENS, build_instance
from dataops_simulator.model import VISIBILITY


def test_built_quickly():
    """~100 customer projects on an instance of a few hundred build well under a second."""
    t0 = time.perf_counter()
    t = build_instance(projects=100, other_projects=250, seed=1)
    assert time.perf_counter() - t0 < 1.0
    assert 340 <= len(t.projects) <= 360


def test_deterministic_for_a_seed():
    a = build_instance(projects=40, other_projects=60, seed=5, anchor=1_700_000_000)
    b = build_instance(projects=40, other_projects=60, seed=5, anchor=1_700_000_000)
    c = build_instance(projects=40, other_projects=60, seed=6, anchor=1_700_000_000)
    for stream in ("projects", "groups", "namespaces", "group_members", "pipelines", "jobs", "effective_access"):
        assert a.truth(stream, "admin", "instance") == b.truth(stream, "admin", "instance"), stream
        assert a.truth(stream, "user") == b.truth(stream, "user"), stream
    assert a.truth("projects", "admin", "instance") != c.truth("projects", "admin", "instance")


def test_a_shared_instance():
    """Several customers and the vendor; private/internal/public groups and projects, a project never
    more visible than its group nor a subgroup than its parent (``Gitlab::VisibilityLevel`` checks on
    ``Project``/``Group``); users belong to customers; the customer's token sees a fraction of it all."""
    t = build_instance(projects=100, other_projects=250, seed=1)
    orgs = {g.org for g in t.groups.values()}
    assert {"Acme", "DataOps.live"} <= orgs and len(orgs) >= 5
    assert {p.visibility for p in t.projects.values()} == {"private", "internal", "public"}
    assert {g.visibility for g in t.groups.values()} == {"private", "internal", "public"}
    for p in t.projects.values():
        if p.namespace.kind == "group":
            assert VISIBILITY[p.visibility] <= VISIBILITY[p.namespace.visibility]
    for g in t.groups.values():
        if g.parent is not None:
            assert VISIBILITY[g.visibility] <= VISIBILITY[g.parent.visibility]
    vendor = [p for p in t.projects.values() if p.path_with_namespace.startswith("dataops-live/")]
    assert {p.visibility for p in vendor} >= {"public", "internal"}
    assert all(u.org for u in t.users.values())
    mine = t.truth("projects", "user")
    assert 20 < len(mine) < len(t.projects) // 2
    assert t.truth("projects", "user") != t.truth("projects", "group_bot")


def test_cli_serves_the_instance_and_prints_its_tokens():
    proc = subprocess.Popen([sys.executable, "-m", "dataops_simulator", "--instance", "--port", "0",
                             "--projects", "20", "--other-projects", "30", "--rate-limit", "0",
                             "--token", "extra-Secret-77"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("dataops-simulator listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1]
        table = [proc.stdout.readline() for _ in range(len(TOKENS) + 1)]
        assert "simulator tokens, not secrets" in table[0]
        for tok, kind in TOKENS.items():
            assert any(tok in line and kind in line for line in table[1:]), tok
        assert not any("extra-Secret-77" in line for line in table)
        r = requests.get(f"{url}/projects", headers={"private-token": "sim-user-token"},
                         params={"membership": "true"}, timeout=5)
        assert r.status_code == 200 and r.json()
        assert requests.get(f"{url}/user", headers={"private-token": "extra-Secret-77"}, timeout=5).json()[
            "username"] == "alex.morgan"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_single_layout_constructor_still_works():
    """``Simulator(projects=N, seed=S)``: one tenant, every private token an administrator."""
    with Simulator(projects=12, seed=3, rate_limit=None) as s:
        r = requests.get(f"{s.url}/projects", headers={"private-token": "sim-token"}, params={"per_page": 100})
        assert len(r.json()) == 12 == len(s.truth("projects", scope="instance"))
        assert requests.get(f"{s.url}/user", headers={"private-token": "sim-token"}).json()["is_admin"] is True
