"""A DataOps.live REST API simulator for tests, benchmarks and the demo.

A real HTTP server on loopback that behaves like DataOps.live (GitLab API v4) for the endpoints the
tap reads: projects, namespaces, groups, members, pipelines and jobs, with GitLab's pagination,
auth, rate limiting and a plan of injectable faults. Standard library only; it never imports the tap.

    from dataops_simulator import Simulator
    with Simulator(projects=200, seed=1) as sim:
        requests.get(f"{sim.url}/projects", headers={"private-token": "sim-token"})

Modules: ``tenant`` (the deterministic data model and its mutations), ``ratelimit`` (per-token fixed
windows and headers), ``faults`` (the fault plan), ``server`` (HTTP, pagination, auth, request log).
"""

from .faults import FAULT_KINDS
from .server import STREAMS, ServedRequest, Simulator
from .tenant import Tenant

__all__ = ["FAULT_KINDS", "STREAMS", "ServedRequest", "Simulator", "Tenant"]
