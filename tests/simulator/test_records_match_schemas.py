"""Every record the simulator serves validates against its stream's JSON Schema and fills it.

"Fills" means: (almost) every property the schema lists is present in the records, and most of
them carry a non-null value somewhere in the stream. Records are taken from ``truth()`` (which the
walk tests prove equal to what the API serves) and from real HTTP answers for each endpoint shape.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import jsonschema
import pytest
import requests

from dataops_simulator import STREAMS, Simulator

SCHEMAS = Path(__file__).resolve().parents[2] / "tap_dataops" / "schemas"
# GitLab's timestamps: 2024-03-01T10:20:30.123Z (fractional seconds optional, Z or an offset)
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

format_checker = jsonschema.FormatChecker()


@format_checker.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    if not DATE_TIME.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@format_checker.checks("date", raises=ValueError)
def _date(value) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


def load_schema(stream: str) -> dict:
    path = SCHEMAS / f"{stream}.json"
    if not path.exists():
        pytest.skip(f"tap_dataops/schemas/{stream}.json is not written yet")
    return json.loads(path.read_text())


def validator(stream: str):
    schema = load_schema(stream)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=format_checker)


def property_paths(schema: dict, prefix: str = "") -> list[str]:
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        out.append(prefix + name)
        if sub.get("properties"):
            out += property_paths(sub, f"{prefix}{name}.")
    return out


def lookup(record: dict, path: str):
    """(present, value) of a dotted path; a null/absent parent counts as not present."""
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


@pytest.fixture(scope="module")
def sim():
    with Simulator(projects=120, seed=3, rate_limit=None) as s:
        yield s


@pytest.mark.parametrize("stream", STREAMS)
def test_truth_records_validate(sim, stream):
    v = validator(stream)
    records = sim.truth(stream, scope="instance")
    assert records, f"no {stream} in the tenant"
    for record in records:
        errors = sorted(v.iter_errors(record), key=lambda e: list(e.path))
        assert not errors, f"{stream} record {record.get('id')}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize("stream", STREAMS)
def test_records_fill_the_schema(sim, stream):
    schema = load_schema(stream)
    records = sim.truth(stream, scope="instance")
    top_level = list(schema["properties"])
    missing = [p for p in top_level if not any(lookup(r, p)[0] for r in records)]
    assert len(missing) <= max(1, len(top_level) // 20), f"{stream}: never present: {missing}"
    # and most properties carry a real value somewhere (nested ones counted too)
    paths = property_paths(schema)
    never_set = [p for p in paths if not any(lookup(r, p)[1] is not None for r in records)]
    assert len(never_set) <= len(paths) // 4, f"{stream}: never non-null: {never_set}"


def test_served_variants_validate(sim):
    """What the endpoints answer (list, detail, simple, keyset) validates too."""
    s = requests.Session()
    s.headers["private-token"] = "sim-token"
    get = lambda path, **params: s.get(sim.url + path, params=params).json()  # noqa: E731
    projects_v = validator("projects")
    for params in ({}, {"statistics": "true"}, {"simple": "true"},
                   {"pagination": "keyset", "order_by": "id", "sort": "asc"}):
        for record in get("/projects", per_page=100, **params):
            projects_v.validate(record)
    pid = sim.tenant.project_ids()[0]
    projects_v.validate(get(f"/projects/{pid}"))
    groups_v = validator("groups")
    for record in get("/groups", per_page=100, statistics="true"):
        groups_v.validate(record)
    groups_v.validate(get(f"/groups/{sim.truth('groups', scope='instance')[0]['id']}"))
    for record in get("/namespaces", per_page=100):
        validator("namespaces").validate(record)
    # child streams: the API rows plus the parent keys the tap adds
    ok = next(p for p in sim.tenant.project_ids() if sim.tenant.child_status(p, "pipelines") == 200
              and sim.tenant.pipelines(sim.tenant.project(p)))
    for row in get(f"/projects/{ok}/pipelines", per_page=100):
        validator("pipelines").validate(get(f"/projects/{ok}/pipelines/{row['id']}"))
    for row in get(f"/projects/{ok}/jobs", per_page=100):
        validator("jobs").validate(dict(row, project_id=ok, pipeline_id=row["pipeline"]["id"]))
    for row in get(f"/projects/{ok}/members", per_page=100):
        validator("project_members").validate(dict(row, project_id=ok))
