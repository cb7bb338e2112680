"""What each mart must hold, computed in Python from the simulator's truth (the records a correct
sync lands, and GitLab's /members/all answer), independently of the SQL."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

FINISHED = ("success", "failed", "canceled")


def ts(value: str | None) -> datetime | None:
    """An API timestamp as UTC without a time zone (as the models keep them)."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value[:10])


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (percentile_cont, quantile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def staleness(last_activity: datetime | None, as_of: datetime) -> str:
    if last_activity is None:
        return "no_activity"
    for days, bucket in ((90, "active"), (180, "stale_90d"), (365, "stale_180d")):
        if last_activity >= as_of - timedelta(days=days):
            return bucket
    return "stale_365d"


def top_level(pipelines: list[dict]) -> list[dict]:
    return [p for p in pipelines if p.get("source") != "parent_pipeline"]


def project_inventory(truth, as_of: datetime) -> dict[int, dict]:
    pipelines = defaultdict(list)
    for p in top_level(truth("pipelines")):
        pipelines[p["project_id"]].append(p)
    owners = defaultdict(list)
    for a in truth("effective_access"):
        if a["access_level"] == 50:
            owners[a["project_id"]].append(a["username"])
    out = {}
    for p in truth("projects"):
        own = sorted(owners[p["id"]])
        mine = pipelines[p["id"]]
        last = max(mine, key=lambda x: (ts(x["created_at"]), x["id"])) if mine else None
        recent = [x for x in mine if ts(x["created_at"]) >= as_of - timedelta(days=30)]
        finished = [x for x in recent if x["status"] in FINISHED]
        failed = [x for x in recent if x["status"] == "failed"]
        out[p["id"]] = {
            "project_path": p["path_with_namespace"],
            "namespace_path": p["namespace"]["full_path"],
            "visibility": p["visibility"],
            "archived": bool(p.get("archived")),
            "staleness_bucket": staleness(ts(p.get("last_activity_at")), as_of),
            "storage_size_bytes": (p.get("statistics") or {}).get("storage_size"),
            "last_pipeline_status": last["status"] if last else None,
            "pipelines_30d": len(recent),
            "failure_rate_30d": len(failed) / len(finished) if finished else None,
            "owners": ", ".join(own) if own else None,
        }
    return out


def pipeline_reliability(truth) -> dict[tuple, dict]:
    groups = defaultdict(list)
    for p in top_level(truth("pipelines")):
        created = ts(p["created_at"])
        week = (created - timedelta(days=created.weekday())).date()
        groups[(p["project_id"], p["ref"], week)].append(p)
    out = {}
    for key, runs in groups.items():
        finished = [r for r in runs if r["status"] in FINISHED]
        failed = [r for r in runs if r["status"] == "failed"]
        durations = [float(r["duration"]) for r in finished if r.get("duration") is not None]
        out[key] = {"runs": len(runs), "failed_runs": len(failed),
                    "failure_rate": len(failed) / len(finished) if finished else None,
                    "p50_duration_seconds": percentile(durations, 0.5),
                    "p95_duration_seconds": percentile(durations, 0.95)}
    return out


def flaky_jobs(truth) -> set[tuple]:
    attempts = defaultdict(list)
    for j in truth("jobs"):
        attempts[(j["pipeline_id"], j["name"])].append(j)
    out = set()
    for (pipeline, name), jobs in attempts.items():
        jobs.sort(key=lambda j: (ts(j["created_at"]), j["id"]))
        statuses = [j["status"] for j in jobs]
        if "failed" in statuses and "success" in statuses[statuses.index("failed") + 1:]:
            out.add((pipeline, name, len(jobs), statuses.count("failed")))
    return out


def ci_minutes_by_project(truth) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for j in truth("jobs"):
        out[j["project_id"]] += (j.get("duration") or 0) / 60
    return dict(out)
