"""Benchmark: tap-dataops against the bundled simulator, rate-limited and flat out.

Two scenarios, both run by default (``--scenario`` picks one):

rate-limited
    The simulator answers every request after 300 ms (± 100 ms jitter) and enforces the real
    limit of 600 requests per token per 60-second window (429 past it). One tenant (default
    1,000 projects with 0-1 pipelines each, about 3,000 requests for a full sync of every
    stream) is synced twice in the same run: with ``max_concurrency=8`` (the default) and with
    ``max_concurrency=1`` (strictly sequential). For each: wall time, requests (the tap's
    ``Run complete`` line, cross-checked with the simulator's own count), requests/min and
    its fraction of 600, the ideal time requests/600 minutes and wall/ideal, 429s received,
    records and records/s, CPU seconds and peak RSS of the tap process; then the ratio
    sequential/concurrent wall time. The goal: wall within 10% of the ideal, zero 429s.

throughput
    The simulator with zero latency, no rate limit and warmed JSON; the tap with a
    requests_per_minute far above what it can send. The ``projects`` stream alone for
    5,000, 20,000 and 50,000 projects (goal: 15,000 records/s), and every stream for 500,
    1,000 and 2,000 projects. For each: records/s over the tap process's whole life and
    between its first and last record, the tap's CPU seconds (user+system, from wait4) and
    records per CPU-second, peak RSS (which should not grow with the tenant), the bytes
    and STATE messages the tap wrote, and the simulator's CPU seconds during the run.

Each tap run gets a fresh simulator (a separate process: the tap and the simulator must
not share a GIL), so rate-limit windows and request counts never carry over. The tap's
stdout is counted as it streams (never held in memory); its stderr is kept in the work
directory. Nothing here asserts timings: the machine may be shared, so the load average is
printed with every run.

    python benchmarks/tap_benchmark.py                 # both scenarios, ~30 minutes
    python benchmarks/tap_benchmark.py --quick         # ~5 minutes (sequential run extrapolated)
    python benchmarks/tap_benchmark.py --scenario throughput
    python benchmarks/tap_benchmark.py --scenario rate-limited --projects 2000

At the end it prints a Markdown block for the README; ``--json FILE`` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tap_dataops.streams import STREAM_NAMES

TOKEN = "sim-token"
# Every stream the tap selects by default (bridges is not), from the tap's own list.
STREAMS = tuple(s for s in STREAM_NAMES if s != "bridges")
RUN_COMPLETE = re.compile(
    r"Run complete: (\d+) requests, (\d+) retried, (\d+) rate limited \(([\d.]+)s waited for the server's rate limit")
LIMIT = 600  # requests per minute, the simulator's and the tap's


def _bin(name: str) -> list[str]:
    """The console script beside this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    module = {"tap-dataops": "tap_dataops.tap", "dataops-simulator": "dataops_simulator"}[name]
    return [sys.executable, "-m", module]


def _load() -> float:
    return os.getloadavg()[0]


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime+stime of a running process (Linux /proc), to see how busy the simulator was."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# --- the simulator, in its own process ---------------------------------------------------------


class SimulatorProcess:
    def __init__(self, workdir: Path, name: str, *, projects: int, seed: int, latency: float, jitter: float,
                 rate_limit: int, pipelines: str | None, jobs: str | None):
        self.stats_file = workdir / f"{name}.simulator-stats.json"
        self.stats_file.unlink(missing_ok=True)
        cmd = _bin("dataops-simulator") + [
            "--host", "127.0.0.1", "--port", "0", "--projects", str(projects), "--seed", str(seed),
            "--token", TOKEN, "--latency", str(latency), "--jitter", str(jitter),
            "--rate-limit", str(rate_limit), "--rate-window", "60", "--warm", "--stats-file", str(self.stats_file),
        ]
        if pipelines:
            cmd += ["--pipelines-per-project", pipelines]
        if jobs:
            cmd += ["--jobs-per-pipeline", jobs]
        self.stderr_path = workdir / f"{name}.simulator.err"
        with open(self.stderr_path, "wb") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.proc.stdout.readline().strip()
        if "listening on " not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"simulator did not start: {line!r} (see {self.stderr_path})")
        self.url = line.split("listening on ", 1)[1]

    def cpu_seconds(self) -> float | None:
        return _proc_cpu_seconds(self.proc.pid)

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        try:
            return json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}


# --- one tap run ------------------------------------------------------------------------------


class _StdoutCounter(threading.Thread):
    """Counts RECORD and STATE messages as the tap writes them (1 MiB reads, whole lines
    only, two bytes.count passes: this process shares the machine's cores with the tap
    and the simulator, so it must stay cheap)."""

    RECORD = b'{"type":"RECORD"'
    STATE = b'{"type":"STATE"'

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd = fd
        self.records = 0
        self.states = 0
        self.bytes = 0
        self.first_record = self.last_record = None

    def run(self) -> None:
        tail = b""
        while chunk := os.read(self.fd, 1 << 20):
            now = time.monotonic()
            self.bytes += len(chunk)
            buf = tail + chunk
            cut = buf.rfind(b"\n") + 1  # messages are lines: count complete lines only
            buf, tail = buf[:cut], buf[cut:]
            found = buf.count(self.RECORD)
            self.records += found
            self.states += buf.count(self.STATE)
            if found:
                if self.first_record is None:
                    self.first_record = now
                self.last_record = now
        os.close(self.fd)


class _StderrKeeper(threading.Thread):
    """Copies the tap's stderr to a file, keeping the Run complete line and the warnings."""

    def __init__(self, stream, path: Path):
        super().__init__(daemon=True)
        self.stream, self.path = stream, path
        self.run_complete = None
        self.warnings = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with open(self.path, "wb") as out:
            for line in self.stream:
                out.write(line)
                text = line.decode("utf-8", "replace")
                m = RUN_COMPLETE.search(text)
                if m:
                    self.run_complete = (int(m[1]), int(m[2]), int(m[3]), float(m[4]))
                if "| WARNING" in text:
                    self.warnings += 1
                if "| ERROR" in text or "| CRITICAL" in text:
                    self.errors.append(text.strip()[-300:])


def run_tap(workdir: Path, name: str, sim: SimulatorProcess, catalog: Path, *, max_concurrency: int,
            requests_per_minute: int, timeout: float) -> dict:
    config = workdir / f"{name}.config.json"
    # The simulator's single tenant read whole (its token is the tenant's administrator): the
    # same work as before the membership scope became the default.
    config.write_text(json.dumps({"api_url": sim.url, "private_token": TOKEN, "page_size": 100, "scope": "instance",
                                  "requests_per_minute": requests_per_minute,
                                  "max_concurrency": max_concurrency}))
    cmd = _bin("tap-dataops") + ["--config", str(config), "--catalog", str(catalog)]
    load_before, sim_cpu_before = _load(), sim.cpu_seconds()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = _StdoutCounter(os.dup(proc.stdout.fileno()))
    proc.stdout.close()
    err = _StderrKeeper(proc.stderr, workdir / f"{name}.tap.err")
    out.start()
    err.start()
    timer = threading.Timer(timeout, lambda: proc.poll() is None and proc.kill())
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)  # the tap's own rusage: CPU seconds and peak RSS
    wall = time.monotonic() - started
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.join()
    err.join()
    proc.stderr.close()
    sim_cpu_after = sim.cpu_seconds()
    records = out.records
    stream_secs = (out.last_record - out.first_record) if out.first_record is not None else 0.0
    requests, retried, rate_limited, waited = err.run_complete or (None, None, None, None)
    return {
        "name": name, "exit_code": proc.returncode, "wall_s": wall,
        "requests": requests, "retried": retried, "rate_limited": rate_limited, "rate_limit_wait_s": waited,
        "records": records, "stdout_bytes": out.bytes,
        "state_messages": out.states,
        "records_per_s": records / wall if wall else 0.0,
        "records_per_s_streaming": records / stream_secs if stream_secs > 0 else None,
        "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
        "sim_cpu_s": (sim_cpu_after - sim_cpu_before) if None not in (sim_cpu_before, sim_cpu_after) else None,
        "warnings": err.warnings, "errors": err.errors[:5],
        "load_before": load_before, "load_after": _load(),
        "max_concurrency": max_concurrency,
    }


def one_run(workdir: Path, name: str, catalog: Path, *, projects: int, seed: int, latency: float,
            jitter: float, rate_limit: int, pipelines: str | None, jobs: str | None, max_concurrency: int,
            requests_per_minute: int, timeout: float) -> dict:
    print(f"  [{time.strftime('%H:%M:%S')}] {name}: {projects:,} projects, max_concurrency={max_concurrency} ...",
          flush=True)
    sim = SimulatorProcess(workdir, name, projects=projects, seed=seed, latency=latency, jitter=jitter,
                           rate_limit=rate_limit, pipelines=pipelines, jobs=jobs)
    try:
        result = run_tap(workdir, name, sim, catalog, max_concurrency=max_concurrency,
                         requests_per_minute=requests_per_minute, timeout=timeout)
    finally:
        served = sim.stop()
    result["projects"] = projects
    result["simulator"] = served
    result["sim_requests"] = served.get("requests")
    result["sim_429"] = served.get("rate_limited_429")
    note = "" if result["exit_code"] == 0 else f"  EXIT {result['exit_code']}: {result['errors'][:1]}"
    print(f"  [{time.strftime('%H:%M:%S')}]   {result['wall_s']:.1f}s, {result['requests']} requests, "
          f"{result['records']:,} records, peak RSS {result['peak_rss_mb']:.0f} MB, "
          f"load {result['load_before']:.2f}->{result['load_after']:.2f}{note}", flush=True)
    return result


# --- catalogs ---------------------------------------------------------------------------------


def make_catalogs(workdir: Path, seed: int) -> dict[str, Path]:
    """``tap-dataops --discover`` once, then one catalog per selection."""
    sim = SimulatorProcess(workdir, "discover", projects=10, seed=seed, latency=0, jitter=0, rate_limit=0,
                           pipelines=None, jobs=None)
    try:
        config = workdir / "discover.config.json"
        config.write_text(json.dumps({"api_url": sim.url, "private_token": TOKEN}))
        discovered = subprocess.run(_bin("tap-dataops") + ["--config", str(config), "--discover"],
                                    capture_output=True, check=True).stdout
    finally:
        sim.stop()
    catalogs = {}
    for label, wanted in (("all", set(STREAMS)), ("projects", {"projects"})):
        catalog = json.loads(discovered)
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
        path = workdir / f"catalog-{label}.json"
        path.write_text(json.dumps(catalog))
        catalogs[label] = path
    return catalogs


# --- the scenarios ----------------------------------------------------------------------------


def rate_limited(args, workdir: Path, catalogs) -> dict:
    print(f"\n== rate-limited: latency {args.latency}s ± {args.jitter}s, {LIMIT} requests/min per token, "
          f"all streams ==", flush=True)
    common = {"seed": args.seed, "latency": args.latency, "jitter": args.jitter, "rate_limit": LIMIT,
              "pipelines": args.pipelines_per_project, "jobs": args.jobs_per_pipeline,
              "requests_per_minute": LIMIT, "timeout": args.run_timeout}
    conc = one_run(workdir, "rate-limited-concurrent", catalogs["all"], projects=args.projects,
                   max_concurrency=args.max_concurrency, **common)
    seq = one_run(workdir, "rate-limited-sequential", catalogs["all"], projects=args.sequential_projects,
                  max_concurrency=1, **common)
    for r in (conc, seq):
        req = r["requests"] or 0
        r["requests_per_min"] = req / (r["wall_s"] / 60) if r["wall_s"] else 0.0
        r["fraction_of_limit"] = r["requests_per_min"] / LIMIT
        r["ideal_s"] = req / LIMIT * 60
        r["wall_over_ideal"] = r["wall_s"] / r["ideal_s"] if r["ideal_s"] else None
    extrapolated = args.sequential_projects != args.projects
    seq_wall = seq["wall_s"]
    if extrapolated and seq["requests"] and conc["requests"]:
        # same latency, one request at a time: time scales with the number of requests
        seq_wall = seq["wall_s"] * conc["requests"] / seq["requests"]
    return {"concurrent": conc, "sequential": seq, "sequential_extrapolated": extrapolated,
            "sequential_wall_for_ratio_s": seq_wall,
            "ratio_sequential_over_concurrent": seq_wall / conc["wall_s"] if conc["wall_s"] else None}


def throughput(args, workdir: Path, catalogs) -> dict:
    print("\n== throughput: zero latency, no rate limit, warmed simulator ==", flush=True)
    common = {"seed": args.seed, "latency": 0.0, "jitter": 0.0, "rate_limit": 0,
              "requests_per_minute": 100_000_000, "max_concurrency": args.max_concurrency,
              "timeout": args.run_timeout}
    projects_only = [one_run(workdir, f"throughput-projects-{n}", catalogs["projects"], projects=n,
                             pipelines=None, jobs=None, **common) for n in args.throughput_projects]
    inventory = [one_run(workdir, f"throughput-inventory-{n}", catalogs["all"], projects=n,
                         pipelines=args.inventory_pipelines, jobs=None, **common) for n in args.inventory_projects]
    for r in projects_only + inventory:
        r["records_per_cpu_s"] = r["records"] / r["cpu_s"] if r["cpu_s"] else None
        r["requests_per_cpu_s"] = (r["requests"] or 0) / r["cpu_s"] if r["cpu_s"] else None
    return {"projects_only": projects_only, "inventory": inventory}


# --- reporting --------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        rule = "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"
        lines = ["| " + " | ".join(headers) + " |", rule]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def rate_limited_rows(res: dict):
    headers = ["run", "projects", "requests (tap/sim)", "wall", "req/min", "of 600", "ideal", "wall/ideal",
               "429s", "records", "records/s", "CPU s", "peak RSS", "load"]
    rows = []
    for r in (res["concurrent"], res["sequential"]):
        label = f"max_concurrency={r['max_concurrency']}"
        match = "" if r["requests"] == r["sim_requests"] else " (!)"
        rows.append([
            label, f"{r['projects']:,}", f"{r['requests']}/{r['sim_requests']}{match}", _mmss(r["wall_s"]),
            f"{r['requests_per_min']:.0f}", f"{r['fraction_of_limit']:.2f}", _mmss(r["ideal_s"]),
            f"{r['wall_over_ideal']:.3f}" if r["wall_over_ideal"] else "-",
            f"{r['sim_429']}" + ("" if r["sim_429"] == r["rate_limited"] else f" (tap {r['rate_limited']})"),
            f"{r['records']:,}", f"{r['records_per_s']:.0f}", f"{r['cpu_s']:.1f}", f"{r['peak_rss_mb']:.0f} MB",
            f"{r['load_before']:.1f}-{r['load_after']:.1f}",
        ])
    return headers, rows


def throughput_rows(res: dict):
    headers = ["streams", "projects", "requests", "records", "wall s", "records/s", "records/s (streaming)",
               "tap CPU s", "records/CPU-s", "peak RSS", "stdout", "STATEs", "sim CPU s", "load"]
    rows = []
    for label, runs in (("projects", res["projects_only"]), ("all 7", res["inventory"])):
        for r in runs:
            rows.append([
                label, f"{r['projects']:,}", f"{r['requests']}", f"{r['records']:,}", f"{r['wall_s']:.1f}",
                f"{r['records_per_s']:,.0f}",
                f"{r['records_per_s_streaming']:,.0f}" if r["records_per_s_streaming"] else "-",
                f"{r['cpu_s']:.1f}", f"{r['records_per_cpu_s']:,.0f}" if r["records_per_cpu_s"] else "-",
                f"{r['peak_rss_mb']:.0f} MB", f"{r['stdout_bytes'] / 1e6:,.0f} MB", f"{r['state_messages']:,}",
                f"{r['sim_cpu_s']:.1f}" if r["sim_cpu_s"] is not None else "-",
                f"{r['load_before']:.1f}-{r['load_after']:.1f}",
            ])
    return headers, rows


def summary_lines(results: dict) -> list[str]:
    out = []
    rl = results.get("rate_limited")
    if rl:
        c, s = rl["concurrent"], rl["sequential"]
        out.append(f"Full sync of {c['projects']:,} projects ({c['requests']} requests, {c['records']:,} records): "
                   f"{_mmss(c['wall_s'])} with max_concurrency={c['max_concurrency']}, "
                   f"{c['wall_over_ideal']:.3f}x the ideal {_mmss(c['ideal_s'])} (requests/600 min; goal <= 1.10), "
                   f"{c['sim_429']} 429s (goal 0).")
        seq_note = (f" (extrapolated from a {s['projects']:,}-project tenant: {s['requests']} requests in "
                    f"{_mmss(s['wall_s'])})" if rl["sequential_extrapolated"] else "")
        out.append(f"max_concurrency=1: {_mmss(rl['sequential_wall_for_ratio_s'])}{seq_note}, "
                   f"{s['requests_per_min']:.0f} requests/min, {s['sim_429']} 429s; "
                   f"sequential/concurrent wall time = {rl['ratio_sequential_over_concurrent']:.2f}x.")
    tp = results.get("throughput")
    if tp and tp["projects_only"]:
        best = max(tp["projects_only"], key=lambda r: r["projects"])
        small = min(tp["projects_only"], key=lambda r: r["projects"])
        rss = [r["peak_rss_mb"] for r in tp["projects_only"]]
        if best is not small:
            # differences between two tenant sizes cancel the tap's start-up (imports, discovery)
            d_rec = best["records"] - small["records"]
            d_wall, d_cpu = best["wall_s"] - small["wall_s"], best["cpu_s"] - small["cpu_s"]
            out.append(f"projects stream, marginal ({small['projects']:,} -> {best['projects']:,} projects, "
                       f"start-up cancelled): {d_rec / d_wall:,.0f} records/s wall, "
                       f"{d_rec / d_cpu:,.0f} records per tap CPU-second." if d_wall > 0 and d_cpu > 0 else
                       "projects stream, marginal: not measurable (no difference in wall or CPU time).")
        out.append(f"projects stream, {best['projects']:,} projects at zero latency: {best['records_per_s']:,.0f} "
                   f"records/s over the whole process, "
                   f"{best['records_per_s_streaming'] or 0:,.0f} records/s first-to-last record, "
                   f"{best['records_per_cpu_s']:,.0f} records per tap CPU-second (goal 15,000 records/s); "
                   f"peak RSS {min(rss):.0f}-{max(rss):.0f} MB over "
                   f"{min(tp['projects_only'], key=lambda r: r['projects'])['records']:,}-"
                   f"{best['records']:,} records.")
    if tp and tp["inventory"]:
        rss = [r["peak_rss_mb"] for r in tp["inventory"]]
        out.append("all streams at zero latency: " + "; ".join(
            f"{r['projects']:,} projects {r['records']:,} records in {r['wall_s']:.1f}s = {r['records_per_s']:,.0f} "
            f"records/s, {1000 * r['cpu_s'] / (r['requests'] or 1):.1f} ms of tap CPU per request, "
            f"{r['stdout_bytes'] / max(1, r['records']) / 1000:.1f} KB of output per record"
            for r in tp["inventory"]) + f"; peak RSS {min(rss):.0f}-{max(rss):.0f} MB.")
    return out


def report(results: dict, args, command: str) -> None:
    print("\n" + "=" * 100)
    if results.get("rate_limited"):
        print(f"\nrate-limited (latency {args.latency:.1f}s ± {args.jitter:.1f}s, 600 requests/min):")
        print(_table(*rate_limited_rows(results["rate_limited"])))
    if results.get("throughput"):
        print("\nthroughput (zero latency, no rate limit):")
        print(_table(*throughput_rows(results["throughput"])))
    print()
    for line in summary_lines(results):
        print("* " + line)

    md = ["### Benchmark", "",
          (f"`{command}` on {results['machine']} ({results['date']}; load average "
           f"{results['load_start']:.1f} at the start, {results['load_end']:.1f} at the end: a shared machine)."),
          ""]
    if results.get("rate_limited"):
        rl = results["rate_limited"]
        md += [(f"Rate-limited: simulator latency {args.latency * 1000:.0f} ms ± {args.jitter * 1000:.0f} ms, "
                "600 requests/min per token, every stream; a fresh simulator per run."), "",
               _table(*rate_limited_rows(rl), markdown=True), ""]
    if results.get("throughput"):
        md += [("Throughput: zero latency, no rate limit, warmed simulator in its own process. "
                "records/s (streaming) is from the tap's first record to its last; records/s is over "
                "the whole process, start-up included."), "",
               _table(*throughput_rows(results["throughput"]), markdown=True), ""]
    md += ["- " + line for line in summary_lines(results)]
    print("\n---- README block ----\n")
    print("\n".join(md))
    print("\n---- end ----")


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=("all", "rate-limited", "throughput"), default="all")
    p.add_argument("--quick", action="store_true",
                   help="~5 minutes: a 400-project tenant, the sequential run on 100 projects (extrapolated), "
                        "smaller throughput tenants")
    p.add_argument("--projects", type=int, default=None, help="rate-limited tenant (default 1000; quick 400)")
    p.add_argument("--sequential-projects", type=int, default=None,
                   help="tenant for the max_concurrency=1 run (default: the same as --projects; quick 100); "
                        "a different size extrapolates its wall time by requests, and says so")
    p.add_argument("--pipelines-per-project", default="0,1", help="rate-limited tenant, LO,HI (default 0,1)")
    p.add_argument("--jobs-per-pipeline", default="1,4", help="LO,HI (default 1,4)")
    p.add_argument("--latency", type=float, default=0.3)
    p.add_argument("--jitter", type=float, default=0.1)
    p.add_argument("--max-concurrency", type=int, default=8, help="the concurrent runs' max_concurrency (default 8)")
    p.add_argument("--throughput-projects", type=_sizes, default=None,
                   help="projects-stream tenants (default 5000,20000,50000; quick 5000,20000)")
    p.add_argument("--inventory-projects", type=_sizes, default=None,
                   help="all-streams tenants at zero latency (default 500,1000,2000; quick 500,1000)")
    p.add_argument("--inventory-pipelines", default="0,6", help="their pipelines per project (default 0,6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--run-timeout", type=float, default=3600, help="kill a tap run after this many seconds")
    p.add_argument("--workdir", default=None, help="configs, catalogs, stderr logs (default: a new temp dir, kept)")
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = p.parse_args(argv)
    args.projects = args.projects or (400 if args.quick else 1000)
    args.sequential_projects = args.sequential_projects or (100 if args.quick else args.projects)
    args.throughput_projects = args.throughput_projects or ([5000, 20000] if args.quick else [5000, 20000, 50000])
    args.inventory_projects = args.inventory_projects or ([500, 1000] if args.quick else [500, 1000, 2000])

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tap-benchmark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/tap_benchmark.py" + ("".join(f" {a}" for a in (argv or sys.argv[1:])))
    results = {
        "command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python "
                   f"{platform.python_version()}",
        "load_start": _load(), "workdir": str(workdir),
    }
    print(f"tap benchmark: {results['machine']}; load average {os.getloadavg()}; work directory {workdir}",
          flush=True)
    started = time.monotonic()
    catalogs = make_catalogs(workdir, args.seed)
    if args.scenario in ("all", "rate-limited"):
        results["rate_limited"] = rate_limited(args, workdir, catalogs)
    if args.scenario in ("all", "throughput"):
        results["throughput"] = throughput(args, workdir, catalogs)
    results["load_end"] = _load()
    results["benchmark_wall_s"] = time.monotonic() - started
    report(results, args, command)
    print(f"\n(benchmark took {_mmss(results['benchmark_wall_s'])}; logs in {workdir})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
