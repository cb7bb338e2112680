"""``dataops-simulator``: run the DataOps.live simulator from the command line until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading

from .faults import FAULT_KINDS
from .instance import TOKENS
from .server import Simulator


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dataops-simulator",
                                description="Serve a simulated DataOps.live REST API (GitLab API v4) on loopback.")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    p.add_argument("--instance", action="store_true",
                   help="serve a shared DataOps.live instance (several customers, ordinary tokens) instead of "
                        "one tenant seen by an administrator; the tokens are printed at startup")
    p.add_argument("--projects", type=int, default=None,
                   help="projects in the tenant (default 250); with --instance, the customer's (default 100)")
    p.add_argument("--other-projects", type=int, default=250,
                   help="with --instance: the other customers' and the vendor's projects (default 250)")
    p.add_argument("--customers", type=int, default=6, help="with --instance: other customers (default 6)")
    p.add_argument("--child-pipelines", type=float, default=None,
                   help="share of pipelines with a trigger job and a child pipeline (default 0; --instance 0.15)")
    p.add_argument("--endpoint-limits", choices=("gitlab.com", "off"), default=None,
                   help="per-endpoint rate limits (GET /projects 2000/10min, /groups 200/min, ...); "
                        "default off, gitlab.com with --instance")
    p.add_argument("--endpoint-429-headers", choices=("retry-after", "none"), default="retry-after",
                   help="a per-endpoint 429 carries Retry-After: <interval> (recent GitLab) or no headers (older)")
    p.add_argument("--rate-limit-headers", choices=("429", "always"), default="429",
                   help="RateLimit-* headers only on 429s (GitLab) or on every answer (default 429)")
    p.add_argument("--seed", type=int, default=1, help="seed for the tenant's data (default 1)")
    p.add_argument("--token", action="append", default=None,
                   help="valid private token (repeatable; default $DATAOPS_SIMULATOR_TOKEN or 'sim-token')")
    p.add_argument("--job-token", action="append", default=None, help="valid JOB-TOKEN (repeatable)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    p.add_argument("--jitter", type=float, default=0.0, help="± uniform jitter on the latency, seconds")
    p.add_argument("--rate-limit", type=int, default=600, help="requests per token per window; 0 disables")
    p.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window, seconds")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests that get a random fault")
    p.add_argument("--fault-kinds", default=None, help=f"comma-separated subset of: {','.join(FAULT_KINDS)}")
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--stall-seconds", type=float, default=5.0)
    p.add_argument("--pipelines-per-project", type=_int_range, default=(0, 6), metavar="LO,HI",
                   help="pipelines per project, uniform in LO..HI (default 0,6)")
    p.add_argument("--jobs-per-pipeline", type=_int_range, default=(1, 4), metavar="LO,HI",
                   help="jobs per pipeline, uniform in LO..HI (default 1,4)")
    p.add_argument("--warm", action="store_true",
                   help="build every project's JSON before listening (benchmarks measure warm serving)")
    p.add_argument("--stats-file", default=None,
                   help="on exit, write a JSON summary of the requests served (counts by status, 429s, "
                        "busiest 60-second spans) to this file")
    return p


def _int_range(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two integers), got {text!r}") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 <= LO <= HI, got {text!r}")
    return lo, hi


def served_summary(requests, window: float = 60.0) -> dict:
    """What the simulator served: counts by status, and the most requests that started within
    any ``window`` seconds (sliding) and within one of the rate limiter's fixed windows."""
    by_status: dict[str, int] = {}
    for r in requests:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    starts = sorted(r.started for r in requests)
    busiest, j = 0, 0
    for i, s in enumerate(starts):
        while starts[j] <= s - window:
            j += 1
        busiest = max(busiest, i - j + 1)
    fixed: dict[int, int] = {}
    for s in starts:
        fixed[int(s // window)] = fixed.get(int(s // window), 0) + 1
    return {
        "requests": len(starts),
        "by_status": by_status,
        "rate_limited_429": by_status.get("429", 0),
        "first_started": starts[0] if starts else None,
        "last_started": starts[-1] if starts else None,
        "busiest_sliding_window": busiest,
        "busiest_fixed_window": max(fixed.values(), default=0),
        "window_seconds": window,
    }


def _token_table(sim) -> str:
    """The built-in simulator tokens of the shared-instance layout (simulator tokens, not secrets);
    tokens given with --token/--job-token are accepted but never printed."""
    t = sim.tenant
    lines = ["tokens (simulator tokens, not secrets; send as private-token, or JOB-TOKEN for the job token):"]
    for tok, kind in TOKENS.items():
        who = t.principals.get(kind)
        user = getattr(who, "user", who)
        name = f"{user.username}" + (f" ({user.org})" if getattr(user, "org", None) else "") if user else "-"
        header = "JOB-TOKEN" if kind == "job" else "private-token"
        lines.append(f"  {header:13} {tok:24} {kind:12} {name}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if not _is_loopback(args.host):
        print(f"dataops-simulator: refusing to bind non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()] if args.fault_kinds else None
    common = {"latency": args.latency, "jitter": args.jitter, "rate_limit": args.rate_limit or None,
                  "rate_window": args.rate_window, "fault_rate": args.fault_rate, "fault_kinds": kinds,
                  "fault_seed": args.fault_seed, "stall_seconds": args.stall_seconds, "host": args.host,
                  "port": args.port,
                  "pipelines_per_project": args.pipelines_per_project, "jobs_per_pipeline": args.jobs_per_pipeline,
                  "endpoint_retry_after": args.endpoint_429_headers == "retry-after",
                  "rate_limit_headers": args.rate_limit_headers}
    try:
        if args.instance:
            tokens = dict(TOKENS)
            for extra in args.token or ():
                tokens[extra] = "user"
            for extra in args.job_token or ():
                tokens[extra] = "job"
            limits = None if args.endpoint_limits == "off" else "gitlab.com"
            sim = Simulator.instance(projects=100 if args.projects is None else args.projects,
                                     other_projects=args.other_projects, customers=args.customers, seed=args.seed,
                                     child_pipelines=0.15 if args.child_pipelines is None else args.child_pipelines,
                                     tokens=tokens, endpoint_limits=limits, **common)
        else:
            values = args.token or [os.environ.get("DATAOPS_SIMULATOR_TOKEN") or "sim-token"]
            sim = Simulator(projects=250 if args.projects is None else args.projects, seed=args.seed,
                            tokens=tuple(values), job_tokens=tuple(args.job_token or ("sim-job-token",)),
                            child_pipelines=args.child_pipelines or 0.0,
                            endpoint_limits="gitlab.com" if args.endpoint_limits == "gitlab.com" else None, **common)
        if args.warm:
            sim.warm()
        sim.start()
    except (ValueError, OSError) as err:
        print(f"dataops-simulator: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"dataops-simulator listening on {sim.url}", flush=True)
    if args.instance:
        print(_token_table(sim), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        if args.stats_file:
            summary = served_summary(sim.requests, args.rate_window or 60.0)
            with open(args.stats_file, "w", encoding="utf-8") as f:
                json.dump(summary, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
