"""Bad input, both tools: one clear line naming the problem and the fix, a non-zero exit,
no traceback, the token nowhere, and the committed data untouched.

Every case runs against a database that already holds a completed run's data (and an
``items`` table the loader cases write to). Tap cases run the whole pipeline, tap | loader,
as a scheduler would; loader cases feed the loader directly. The README's "Bad input"
table lists these cases one for one (CASES ids).

No traffic leaves the machine: the simulator, the closed port and the TLS servers are on
127.0.0.1, and every tap case runs with HTTP(S)_PROXY pointing at a closed loopback port,
so a remote host name could not be reached even if a check let it through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import typing as t
from pathlib import Path

import duckdb
import pytest

from dataops_simulator import Simulator
from tests.pipeline.harness import LOADER, LOADER_PREFIX, TAP, TAP_PREFIX, TOKEN, Pipeline, tables

ITEMS = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": ["null", "string"]},
                                          "seen_at": {"type": ["null", "string"], "format": "date-time"}}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- shared fixtures: one simulator, one committed database, TLS servers ------------------------


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(projects=5, seed=4, rate_limit=None, tokens=(TOKEN,)).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def committed(sim, tmp_path_factory) -> Path:
    """A database holding one completed tap run and a committed ``items`` row."""
    folder = tmp_path_factory.mktemp("committed")
    pipeline = Pipeline(sim, folder)
    assert pipeline.run().ok
    feed(pipeline.database, [{"type": "SCHEMA", "stream": "items", "schema": ITEMS, "key_properties": ["id"]},
                             {"type": "RECORD", "stream": "items", "record": {"id": 1, "name": "kept"}},
                             {"type": "STATE", "value": {"items": 1}}], check=True)
    return pipeline.database


def fingerprint(database: Path) -> dict[str, list]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name: sorted(map(repr, con.execute(f'SELECT * FROM "{name}"').fetchall()))
                for name in sorted(tables(database))}


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory):
    """An HTTPS server on loopback with a self-signed certificate (made by openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: t.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda *a: None  # the client's refused handshake is expected
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()
    server.server_close()


# -- running the tools ------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str
    lines: list[str]  # the tool's own error lines


def feed(path: Path, messages: list[dict | str], check: bool = False, **config: t.Any) -> Outcome:
    """Run the loader on ``messages`` into the database at ``path`` (or ``config["database"]``)."""
    config_path = path.with_name(path.name + ".loader.json")
    config_path.write_text(json.dumps({"database": str(path), **config}))
    text = "".join((m if isinstance(m, str) else json.dumps(m) + "\n") for m in messages)
    done = subprocess.run([LOADER, "--config", str(config_path)], input=text.encode(), capture_output=True,
                          timeout=120)
    stderr = done.stderr.decode("utf-8", "replace")
    if check:
        assert done.returncode == 0, stderr
    return Outcome(done.returncode, stderr, done.stdout.decode(),
                   [line for line in stderr.splitlines() if line.startswith(LOADER_PREFIX)])


def run_tap_into_loader(folder: Path, database: Path, args: list[str], env: dict) -> tuple[Outcome, Outcome]:
    loader_cfg = folder / "loader.json"
    loader_cfg.write_text(json.dumps({"database": str(database)}))
    tap = subprocess.Popen([TAP, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    loader = subprocess.Popen([LOADER, "--config", str(loader_cfg)], stdin=tap.stdout, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    tap.stdout.close()
    tap_err = tap.stderr.read().decode("utf-8", "replace")
    tap.wait(timeout=120)
    out, err = loader.communicate(timeout=120)
    loader_err = err.decode("utf-8", "replace")
    return (Outcome(tap.returncode, tap_err, "", [x for x in tap_err.splitlines() if x.startswith(TAP_PREFIX)]),
            Outcome(loader.returncode, loader_err, out.decode(),
                    [x for x in loader_err.splitlines() if x.startswith(LOADER_PREFIX)]))


# -- the tap's cases --------------------------------------------------------------------------


@dataclasses.dataclass
class TapCase:
    config: dict | str | None = dataclasses.field(default_factory=dict)
    # ^ overrides of a good config; a str is the file's raw text; None: the file does not exist
    catalog: t.Any = None  # a dict/list is written as JSON, a str as raw text
    state: t.Any = None
    code: int = 2
    expect: str = ""
    drop: tuple[str, ...] = ()  # settings removed from the good config


TAP_CASES = {
    "config: no token": TapCase(drop=("private_token",), expect="no token configured: set private_token"),
    "config: both tokens": TapCase({"job_token": "job-" + TOKEN}, expect="both private_token and job_token are set"),
    "config: token of the wrong type": TapCase({"private_token": 12345678},
                                               expect="invalid configuration: *** is not of type 'string'"),
    "config: page_size above 100": TapCase({"page_size": 500}, expect="500 is greater than the maximum of 100"),
    "config: page_size not a number": TapCase({"page_size": "many"}, expect="'many' is not of type 'integer'"),
    "config: requests_per_minute 0": TapCase({"requests_per_minute": 0}, expect="requests_per_minute"),
    "config: request_timeout 0": TapCase({"request_timeout": 0}, expect="request_timeout"),
    "config: max_concurrency above 32": TapCase({"max_concurrency": 64}, expect="max_concurrency"),
    "config: groups not a list": TapCase({"groups": "my-group"}, expect="'my-group' is not of type 'array'"),
    "config: start_date not a date": TapCase({"start_date": "last tuesday"}, expect="start_date"),
    "config: api_url without /api/v4": TapCase({"api_url": "{base}"}, expect="must be the API base URL ending in /api/v4"),
    "config: api_url not a URL": TapCase({"api_url": "dataops dot live"}, expect="is not a valid http(s) URL"),
    "config: plain http to a remote host": TapCase({"api_url": "http://dataops.example.com/api/v4"},
                                                   expect="plain http:// to a remote host"),
    "config: credentials inside api_url": TapCase({"api_url": "{userinfo}"},
                                                  expect="contains a user name or password"),
    "config: file missing": TapCase(None, code=1, expect="file not found"),
    "config: file not JSON": TapCase('{"api_url": ', code=1, expect="--config file '{dir}/config.json' is not valid JSON"),
    "config: unknown setting": TapCase({"group": ["my-group"]}, expect="unknown setting 'group': did you mean 'groups'?"),
    "config: a CI job token": TapCase({"job_token": "ci-job-token-value"}, drop=("private_token",),
                                      expect="job_token (CI_JOB_TOKEN) cannot read the inventory"),
    "config: endpoint limit of an unknown endpoint": TapCase({"endpoint_rate_limits": {"GET /users": [1, 60]}},
                                                             expect="endpoint_rate_limits names 'GET /users'"),
    "catalog: not JSON": TapCase({}, catalog='{"streams": [', code=1, expect="--catalog file '{dir}/catalog.json' is not valid JSON"),
    "catalog: not a catalog": TapCase({}, catalog={"streams": 5}, expect="the catalog is not a Singer catalog"),
    "catalog: unknown stream": TapCase({}, catalog="unknown", expect="the catalog names stream(s) 'merge_requests'"),
    "state: not JSON": TapCase({}, state='{"bookmarks": ', code=1, expect="--state file '{dir}/state.json' is not valid JSON"),
    "state: file missing": TapCase({}, state="missing", code=1, expect="file not found: '{dir}/missing-state.json'"),
    "state: not a state": TapCase({}, state={"bookmarks": "projects"}, expect="the state is not a Singer state"),
    "state: partitions not a list of contexts": TapCase(
        {}, state={"bookmarks": {"pipelines": {"partitions": [{"project_id": 1}]}}},
        expect="the state's 'pipelines' partitions are not a list of objects"),
    "state: the same partition twice": TapCase(
        {}, state={"bookmarks": {"pipelines": {"partitions": [{"context": {"project_id": 1}}] * 2}}},
        expect="the state's 'pipelines' partitions list the same context twice"),
    "state: a whole STATE message": TapCase({}, state={"type": "STATE", "value": {"bookmarks": {}}},
                                            expect='holds a whole STATE message; keep only its "value"'),
    # A host that never answered is api_url's fault: no retries for five minutes (exit 2).
    "network: connection refused": TapCase({"api_url": "{closed}"}, code=2,
                                           expect="cannot reach 127.0.0.1: connection refused; check api_url"),
    "network: host name does not resolve": TapCase({"api_url": "https://no-such-host.invalid/api/v4"}, code=2,
                                                   expect="cannot reach no-such-host.invalid: name or service not known"),

    "network: https to a plain-http server": TapCase({"api_url": "{https}"}, code=1,
                                                     expect="TLS failed (wrong version number"),
    "network: self-signed certificate": TapCase({"api_url": "{self_signed}"}, code=1,
                                                expect="TLS failed (certificate verify failed: self-signed certificate"),
    "api: token rejected": TapCase({"private_token": "glpat-Wrong-0000"}, code=1,
                                   expect="rejected the token (401 Unauthorized); check private_token"),
    "api: api_url on the wrong path": TapCase({"api_url": "{wrong_path}"}, code=1, expect="answered 404"),
    "scope: unknown project": TapCase({"projects": ["no-such/project"]}, code=1,
                                      expect="the projects setting names 'no-such/project'"),
    "scope: unknown group": TapCase({"groups": ["no-such-group"]}, code=1,
                                    expect="the groups setting names 'no-such-group'"),
}


def _discovered(sim, folder: Path) -> dict:
    config = folder / "discover.json"
    config.write_text(json.dumps({"api_url": sim.url, "private_token": TOKEN}))
    done = subprocess.run([TAP, "--config", str(config), "--discover"], capture_output=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", list(TAP_CASES))
def test_tap_bad_input(name, sim, committed, self_signed_server, tmp_path):
    case = TAP_CASES[name]
    database = tmp_path / "dataops.duckdb"
    shutil.copy(committed, database)
    before = fingerprint(database)
    closed = _closed_port()
    fill = {"base": sim.url.removesuffix("/api/v4"), "closed": f"http://127.0.0.1:{closed}/api/v4",
            "https": sim.url.replace("http://", "https://"), "self_signed": self_signed_server,
            "wrong_path": sim.url.replace("/api/v4", "/nowhere/api/v4"),
            "userinfo": sim.url.replace("http://", f"http://user:{TOKEN}@")}
    args: list[str] = []
    if case.config is None:
        args += ["--config", str(tmp_path / "missing.json")]
    else:
        if isinstance(case.config, str):
            text = case.config
        else:
            config = {"api_url": sim.url, "private_token": TOKEN, "requests_per_minute": 60_000}
            config.update({k: (v.format(**fill) if isinstance(v, str) else v) for k, v in case.config.items()})
            for key in case.drop:
                config.pop(key)
            text = json.dumps(config)
        (tmp_path / "config.json").write_text(text)
        args += ["--config", str(tmp_path / "config.json")]
    for option, value in (("--catalog", case.catalog), ("--state", case.state)):
        if value is None:
            continue
        if value == "missing":
            args += [option, str(tmp_path / f"missing-{option[2:]}.json")]
            continue
        if value == "unknown":
            value = _discovered(sim, tmp_path)
            value["streams"][0]["tap_stream_id"] = value["streams"][0]["stream"] = "merge_requests"
        path = tmp_path / f"{option[2:]}.json"
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        args += [option, str(path)]
    proxy = f"http://127.0.0.1:{closed}"  # anything not on loopback would go here, and fail
    # .invalid never resolves (RFC 6761): its lookup fails here, without a proxy in between.
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost,.invalid",

           "TAP_DATAOPS_LOG_LEVEL": "debug"}
    tap, loader = run_tap_into_loader(tmp_path, database, args, env)

    print(f"CASE tap | {name} | {tap.code} | {tap.lines}")  # shown with -s (the README table)
    assert tap.code == case.code, tap.stderr[-2000:]
    assert len(tap.lines) == 1, tap.stderr[-2000:]
    assert case.expect.format(dir=tmp_path) in tap.lines[0], tap.lines[0]

    assert "Traceback" not in tap.stderr + loader.stderr
    assert TOKEN not in tap.stderr + loader.stderr + loader.stdout
    # The loader read whatever came before the failure (SCHEMA messages; for the scope
    # cases, the unscoped groups and namespaces again) and the committed data is as it was.
    assert loader.code == 0, loader.stderr[-2000:]
    assert fingerprint(database) == before


# -- the loader's cases -----------------------------------------------------------------------


SCHEMA = {"type": "SCHEMA", "stream": "items", "schema": ITEMS, "key_properties": ["id"]}


def record(**values: t.Any) -> dict:
    return {"type": "RECORD", "stream": "items", "record": values}


GOOD = [SCHEMA, record(id=2, name="new"), {"type": "STATE", "value": {"items": 2}}]

LOADER_CASES: dict[str, tuple[list, dict, str]] = {
    # name: (messages, loader settings, expected text in the one line)
    "input: malformed JSON line": ([*GOOD, '{"type": "RECORD", "stream": "items", "record": {"id": 3,\n'], {},
                                   "line 4: malformed JSON"),
    "input: unknown message type": ([*GOOD, '{"type": "HELLO"}\n'], {}, "line 4: unknown message type 'HELLO'"),
    "input: line without a type": ([*GOOD, '{"stream": "items"}\n'], {}, "line 4 (stream items): line is not a Singer message (no 'type')"),
    "input: RECORD before SCHEMA": ([record(id=3)], {}, "line 1 (stream items): RECORD before SCHEMA"),
    "input: value of the wrong JSON type": ([*GOOD, record(id="three")], {},
                                            "line 4 (stream items): record does not match the stream's schema"),
    "input: record without its key": ([*GOOD, record(name="no id")], {}, "record has no key property 'id'"),
    "input: value the column cannot store": ([*GOOD, record(id=4, seen_at="next tuesday")], {},
                                             "value \"next tuesday\" cannot be stored in column 'seen_at'"),
    "input: cut in the middle of a message": ([*GOOD, '{"type": "RECORD", "stream": "items", "rec'], {},
                                              "line 4: malformed JSON (Input data was truncated)"),
    "schema: stream name clashes with another's table": (
        [{**SCHEMA, "stream": "ITEMS"}], {}, "stream 'ITEMS' maps to table 'ITEMS', which already holds stream 'items'"),
    "schema: columns differing only in case": (
        [{**SCHEMA, "schema": {"properties": {**ITEMS["properties"], "ID": {"type": "integer"}}}}], {},
        "properties 'id' and 'ID' differ only in case"),
    "schema: key property not in the schema": ([{**SCHEMA, "key_properties": ["uuid"]}], {},
                                               "key properties ['uuid'] are not properties of the schema"),
    "config: invalid load_method": (GOOD, {"load_method": "merge"}, "invalid configuration: 'merge' is not one of"),
    "config: batch_size_rows not a number": (GOOD, {"batch_size_rows": "many"},
                                             "invalid configuration: 'many' is not of type 'integer'"),
}


@pytest.fixture
def database(committed, tmp_path) -> Path:
    path = tmp_path / "dataops.duckdb"
    shutil.copy(committed, path)
    return path


def assert_refused(outcome: Outcome, expect: str, database: Path | None, before: dict | None) -> None:
    print(f"CASE loader | {outcome.code} | {outcome.lines}")  # shown with -s (the README table)
    assert outcome.code == 1, outcome.stderr[-2000:]
    assert len(outcome.lines) == 1, outcome.stderr[-2000:]
    assert expect in outcome.lines[0], outcome.lines[0]
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == "", "no STATE is confirmed after a failure"
    if database is not None:
        assert fingerprint(database) == before


@pytest.mark.parametrize("name", list(LOADER_CASES))
def test_loader_bad_input(name, database):
    messages, settings, expect = LOADER_CASES[name]
    before = fingerprint(database)
    assert_refused(feed(database, messages, **settings), expect, database, before)


def test_loader_config_file_missing(database, tmp_path):
    done = subprocess.run([LOADER, "--config", str(tmp_path / "nope.json")], input=b"", capture_output=True, timeout=60)
    lines = [x for x in done.stderr.decode().splitlines() if x.startswith(LOADER_PREFIX)]
    assert_refused(Outcome(done.returncode, done.stderr.decode(), done.stdout.decode(), lines),
                   "was not found.; check the --config path", None, None)


def test_loader_config_file_not_json(database, tmp_path):
    (tmp_path / "bad.json").write_text('{"database": ')
    done = subprocess.run([LOADER, "--config", str(tmp_path / "bad.json")], input=b"", capture_output=True, timeout=60)
    lines = [x for x in done.stderr.decode().splitlines() if x.startswith(LOADER_PREFIX)]
    assert_refused(Outcome(done.returncode, done.stderr.decode(), done.stdout.decode(), lines),
                   "the --config file is not valid JSON", None, None)


def test_loader_database_path_is_a_directory(tmp_path):
    outcome = feed(tmp_path / "x.duckdb", GOOD, database=str(tmp_path))
    assert_refused(outcome, f"cannot open database {tmp_path}", None, None)


def test_loader_database_locked_by_another_process(database):
    before = fingerprint(database)
    holder = duckdb.connect(str(database))  # this test process holds DuckDB's write lock
    try:
        outcome = feed(database, GOOD)
    finally:
        holder.close()
    assert_refused(outcome, f"database file {database} is locked by another process (pid {os.getpid()})",
                   database, before)


@contextlib.contextmanager
def tiny_filesystem(folder: Path, size: str):
    """A tmpfs of ``size`` (needs root and mount); skips when it cannot be mounted."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_loader_unwritable_database_on_a_read_only_filesystem(committed, tmp_path):
    with tiny_filesystem(tmp_path / "ro", "64m") as folder:
        database = folder / "dataops.duckdb"
        shutil.copy(committed, database)
        before = fingerprint(database)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        outcome = feed(tmp_path / "elsewhere.duckdb", GOOD, database=str(database))
        assert_refused(outcome, f"cannot open database {database}", database, before)
        assert "Read-only file system" in outcome.lines[0]


def test_loader_disk_full(committed, tmp_path):
    """A tmpfs just larger than the database: the first big batch cannot be written."""
    size = os.path.getsize(committed) + 256 * 1024
    with tiny_filesystem(tmp_path / "full", f"{size}") as folder:
        database = folder / "dataops.duckdb"
        shutil.copy(committed, database)
        before = fingerprint(database)
        big = [SCHEMA] + [record(id=i, name="x" * 400) for i in range(10, 20_010)] + [{"type": "STATE", "value": {}}]
        outcome = feed(tmp_path / "elsewhere.duckdb", big, database=str(database))
        assert_refused(outcome, "No space left on device", database, before)
