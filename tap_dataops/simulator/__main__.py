"""``dataops-simulator``: run the DataOps.live simulator from the command line until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading

from .faults import FAULT_KINDS
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
    p.add_argument("--projects", type=int, default=250, help="projects in the tenant (default 250)")
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
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if not _is_loopback(args.host):
        print(f"dataops-simulator: refusing to bind non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    tokens = args.token or [os.environ.get("DATAOPS_SIMULATOR_TOKEN") or "sim-token"]
    kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()] if args.fault_kinds else None
    try:
        sim = Simulator(projects=args.projects, seed=args.seed, tokens=tuple(tokens),
                        job_tokens=tuple(args.job_token or ("sim-job-token",)),
                        latency=args.latency, jitter=args.jitter,
                        rate_limit=args.rate_limit or None, rate_window=args.rate_window,
                        fault_rate=args.fault_rate, fault_kinds=kinds, fault_seed=args.fault_seed,
                        stall_seconds=args.stall_seconds, host=args.host, port=args.port)
        sim.start()
    except (ValueError, OSError) as err:
        print(f"dataops-simulator: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"dataops-simulator listening on {sim.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
