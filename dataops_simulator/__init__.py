"""A DataOps.live REST API simulator for tests, benchmarks and the demo.

A real HTTP server on loopback that behaves like DataOps.live (GitLab API v4) for the endpoints the
tap reads: projects, namespaces, groups, members, pipelines, jobs and bridges, with GitLab's
pagination, authentication, scope rules, rate limiting and a plan of injectable faults. Standard
library only; it never imports the tap.

Two layouts:

- ``Simulator(projects=N, seed=S)``: one customer's tenant, every private token an administrator
  (the layout the older tests use). ``sim.truth(stream)`` is the instance-wide truth.
- ``Simulator.instance(projects=100, other_projects=250, seed=S)``: a shared DataOps.live instance
  (several customers, the vendor's public and internal reference projects), seen through ordinary
  tokens: "user" (an Acme engineer, the default), "admin", "project_bot" and "group_bot" (access
  tokens), "external", and "job" (a CI_JOB_TOKEN, sent as ``JOB-TOKEN``). ``sim.tokens`` lists them.

    from dataops_simulator import Simulator
    with Simulator.instance(projects=100, seed=1) as sim:
        r = requests.get(f"{sim.url}/projects", params={"membership": "true"}, headers=sim.headers("user"))
        assert {p["id"] for p in r.json()} <= {p["id"] for p in sim.truth("projects", token="user")}
        changes = sim.advance_day()            # a day of activity; the truth follows
        sim.truth("effective_access")          # (project, user) rows as /members/all answers them
        sim.truth("projects", token="admin")   # the instance-wide truth

Truth streams (``TRUTH_STREAMS``): the tap's ``STREAMS`` plus "bridges" and "effective_access";
see ``truth.py`` for exactly what each contains. Mutations live on ``sim.tenant`` (``create_projects``,
``delete_projects``, ``touch_project``, ``add_pipeline``, ``delete_namespaces``, ``event``, and the
rest in ``activity.py``); test hooks on ``sim`` (``requests``, ``inject``, ``after_requests``,
``expire_token``).

Modules: ``model`` (entities), ``access`` (who sees what), ``records`` (how the API renders it),
``ci`` (pipelines, jobs and bridges, and GitLab's duration rules), ``tenant`` (the data and its
mutations), ``instance`` (the shared-instance layout and its tokens), ``activity`` (a day of
activity), ``truth``, ``api`` (endpoints, scope, pagination), ``server`` (HTTP, auth, the request log),
``ratelimit``, ``faults``.
"""

from .faults import FAULT_KINDS
from .server import STREAMS, TRUTH_STREAMS, ServedRequest, Simulator
from .tenant import Tenant

__all__ = ["FAULT_KINDS", "STREAMS", "TRUTH_STREAMS", "ServedRequest", "Simulator", "Tenant"]
