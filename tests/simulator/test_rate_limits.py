"""Per-endpoint rate limits (``Gitlab::ApplicationRateLimiter``), over HTTP.

Sources: ``check_rate_limit!`` (gitlabhq lib/api/helpers/rate_limiter.rb; newer: ``too_many_requests!``
with ``Retry-After: <interval>``; older: ``render_api_error!`` with no headers); the thresholds and
intervals of GitLab.com (doc/administration/settings/rate_limit_on_projects_api.md and
rate_limit_on_groups_api.md, "Rate limit on listing group members": 200 a minute per group and user;
``project_members_api`` for ``/members/all``); the per-user throttle (lib/gitlab/rack_attack.rb) is
checked in test_simulator.py.
"""

from __future__ import annotations

import pytest
import requests

from dataops_simulator import Simulator
from dataops_simulator.ratelimit import GITLAB_COM_LIMITS

BODY = {"message": {"error": "This endpoint has been requested too many times. Try again later."}}


def test_gitlab_com_defaults():
    """The documented GitLab.com defaults: ``GET /projects`` 2,000 per 10 minutes, ``GET /projects/:id``
    400/min, ``GET /groups`` 200/min, ``GET /groups/:id`` 400/min, ``GET /groups/:id/projects`` 600/min,
    listing all members 200/min per source and user."""
    assert GITLAB_COM_LIMITS == {
        "projects_api": (2000, 600, False), "project_api": (400, 60, False), "groups_api": (200, 60, False),
        "group_api": (400, 60, False), "group_projects_api": (600, 60, False),
        "group_members_all": (200, 60, True), "project_members_api": (200, 60, True)}
    with Simulator.instance(projects=10, other_projects=10) as s:
        assert s.endpoint_limiter.limits == GITLAB_COM_LIMITS
    assert Simulator(projects=5).endpoint_limiter.limits == {}  # the single layout: off unless asked


def limited(retry_after: bool):
    rules = {name: (2, 600 if name == "projects_api" else 3600, scoped)
             for name, (_, _, scoped) in GITLAB_COM_LIMITS.items()}
    return Simulator.instance(projects=10, other_projects=10, seed=2, rate_limit=None, endpoint_limits=rules,
                              endpoint_retry_after=retry_after)


@pytest.mark.parametrize("retry_after", [True, False])
def test_each_endpoint_limit(retry_after):
    """Each limited route answers the third request in its window with the JSON 429; ``Retry-After`` is
    the rule's interval on recent versions and absent (with no other rate-limit header) on older ones."""
    with limited(retry_after) as s:
        h = s.headers("user")
        labs = s.tenant.group("acme-labs").id
        pid = s.tenant.project("acme-labs/labs-playground").id
        routes = {"projects_api": "/projects", "project_api": f"/projects/{pid}", "groups_api": "/groups",
                  "group_api": f"/groups/{labs}", "group_projects_api": f"/groups/{labs}/projects",
                  "group_members_all": f"/groups/{labs}/members/all",
                  "project_members_api": f"/projects/{pid}/members/all"}
        for rule, path in routes.items():
            codes = [requests.get(f"{s.url}{path}", headers=h).status_code for _ in range(2)]
            r = requests.get(f"{s.url}{path}", headers=h)
            assert codes == [200, 200] and r.status_code == 429, rule
            assert r.json() == BODY and r.headers["Content-Type"] == "application/json"
            interval = s.endpoint_limiter.limits[rule][1]
            if retry_after:
                assert r.headers["Retry-After"] == str(interval)
            else:
                assert "Retry-After" not in r.headers
            assert not any(k.lower().startswith("ratelimit") for k in r.headers)
        # members limits are per source: another group still answers
        beta = s.tenant.group("acme-labs/team-beta").id
        assert requests.get(f"{s.url}/groups/{beta}/members/all", headers=h).status_code == 200
        # and per user: the admin's budget is its own
        assert requests.get(f"{s.url}/groups", headers=s.headers("admin")).status_code == 200
        # routes without a rule are not limited
        assert all(requests.get(f"{s.url}/namespaces", headers=h).status_code == 200 for _ in range(4))


def test_per_user_throttle_comes_first():
    """Rack::Attack answers before the endpoint runs: an exhausted per-user budget is the plain-text 429
    even on a route with its own limit."""
    with Simulator.instance(projects=10, other_projects=10, rate_limit=2, rate_window=3600,
                            endpoint_limits={"groups_api": (1, 3600, False)}) as s:
        h = s.headers("user")
        assert requests.get(f"{s.url}/groups", headers=h).status_code == 200
        r = requests.get(f"{s.url}/groups", headers=h)
        assert r.status_code == 429 and r.json() == BODY
        r = requests.get(f"{s.url}/groups", headers=h)
        assert r.status_code == 429 and r.text == "Retry later\n" and r.headers["RateLimit-Observed"] == "3"
