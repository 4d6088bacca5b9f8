"""Shared helpers of the chaos scripts (scripts/chaos/*.py).

Not a script of its own. What it gives the scripts:

* `bootstrap()`: makes sure the third-party modules (aiohttp, nats-py,
  psycopg2-binary) are importable. When they are not, it creates the venv
  at $CHAOS_VENV (default /tmp/chaos-venv), pip-installs them there and
  re-executes the script with the venv's python. So `python3 kill9.py` works
  from a bare machine with PyPI access.
* `Run`: one run's scratch directory, fresh PostgreSQL database, fresh NATS
  stream name and subject prefix, and its clean-up.
* `Server`: one `eventauth serve` child process on a fixed port (so a
  restarted one answers on the same URL), its log lines captured in memory
  and in a file, `kill9()`, `terminate()`, `restart()`.
* PostgreSQL and NATS read helpers, the "every event on the stream exactly
  once and in order" check, small statistics helpers, the PASS/FAIL
  summary.

Standard library only at import time; the third-party modules are imported
lazily inside the functions that need them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = Path(os.environ.get("CHAOS_VENV", "/tmp/chaos-venv"))
REQUIREMENTS = ["aiohttp", "nats-py", "psycopg2-binary"]
MODULES = ["aiohttp", "nats", "psycopg2"]
DEFAULT_BIN = Path(os.environ.get("CHAOS_EVENTAUTH_BIN", "/tmp/chaos/eventauth"))
BUILT_BIN = REPO / "target" / "debug" / "eventauth"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"
DEFAULT_NATS = "nats://127.0.0.1:4222"
NATS_SERVER = "/usr/sbin/nats-server"
NATS_START_ARGS = ["-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server",
                   "-l", "/var/log/nats-server.log"]


# ---------------------------------------------------------------- bootstrap

def bootstrap(modules: Iterable[str] = MODULES) -> None:
    """Imports work afterwards, or the process is replaced by the venv's
    python running the same script (after creating the venv if needed)."""
    missing = [m for m in modules if not _importable(m)]
    if not missing:
        return
    python = VENV / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == VENV.resolve() if VENV.exists() else False
    if not python.exists():
        print(f"[chaos] creating venv {VENV} (missing: {', '.join(missing)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if in_venv or not _venv_has(python, modules):
        print(f"[chaos] pip install {' '.join(REQUIREMENTS)} into {VENV}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    if in_venv:
        return
    os.execv(str(python), [str(python), *sys.argv])


def _importable(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def _venv_has(python: Path, modules: Iterable[str]) -> bool:
    code = "import importlib.util,sys;sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)"
    return subprocess.run([str(python), "-c", code, *modules]).returncode == 0


# ---------------------------------------------------------------- arguments

def add_common_args(parser: argparse.ArgumentParser, *, nats: bool = False) -> None:
    g = parser.add_argument_group("environment")
    g.add_argument("--bin", type=Path, default=DEFAULT_BIN,
                   help=f"eventauth binary (default {DEFAULT_BIN}; copied from {BUILT_BIN} when missing)")
    g.add_argument("--pg", default=DEFAULT_PG,
                   help=f"PostgreSQL server URL without a database (default {DEFAULT_PG}); "
                        "each run creates a fresh database there")
    g.add_argument("--keep", action="store_true",
                   help="keep the run's database, NATS stream and scratch directory afterwards")
    g.add_argument("--workdir", type=Path, default=Path("/tmp/chaos/runs"),
                   help="where each run's scratch directory (logs, data dir) goes")
    g.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the eventauth process(es), repeatable "
                        "(e.g. EVENTAUTH_ARGON2_MEMORY_KIB=19456)")
    g.add_argument("--rust-log", default="info,sqlx=warn,hyper=info,h2=info",
                   help="RUST_LOG of the server (default %(default)s)")
    g.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    if nats:
        g.add_argument("--nats", default=DEFAULT_NATS, help=f"NATS server (default {DEFAULT_NATS})")


def parse_env_pairs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--server-env wants KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def resolve_binary(path: Path) -> Path:
    if path.exists():
        return path
    if path == DEFAULT_BIN and BUILT_BIN.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUILT_BIN, path)
        print(f"[chaos] copied {BUILT_BIN} to {path}", flush=True)
        return path
    raise SystemExit(f"no eventauth binary at {path} (build it, or pass --bin)")


# ---------------------------------------------------------------- a run

def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d%H%M%S")


def _rand(n: int = 6) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def printed_id(output: str) -> str:
    """The id a CLI command printed (the last UUID outside JSON log lines)."""
    import re
    ids = [m for line in output.splitlines() if not line.startswith("{")
           for m in re.findall(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", line)]
    if not ids:
        raise RuntimeError(f"no id in the output: {output[-500:]}")
    return ids[-1]


class Run:
    """One run: scratch dir, fresh database, fresh NATS stream/prefix."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.args = args
        self.id = f"{name}_{_stamp()}_{_rand()}"
        self.dir = args.workdir / self.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bin = resolve_binary(args.bin)
        self.pg_base = args.pg.rstrip("/")
        self.db_name = f"chaos_{self.id}".lower()
        self.db_url = f"{self.pg_base}/{self.db_name}"
        self.nats_url = getattr(args, "nats", None)
        self.stream = f"CHAOS_{self.id.upper()}"
        self.prefix = f"chaos{self.id.replace('_', '').lower()}"
        self.servers: list[Server] = []
        # Settings every server and CLI call of the run gets (e.g. EVENTAUTH_SECRET).
        self.common_env: dict[str, str] = {}
        self.db_created = False
        self.stream_used = False
        print(f"[chaos] run {self.id}: dir {self.dir}, database {self.db_name}"
              + (f", stream {self.stream}, subjects {self.prefix}.>" if self.nats_url else ""),
              flush=True)

    # -- database
    def create_database(self) -> None:
        admin_query(self.pg_base, f'CREATE DATABASE "{self.db_name}"')
        self.db_created = True

    def drop_database(self) -> None:
        if not self.db_created:
            return
        try:
            admin_query(self.pg_base,
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (self.db_name,))
            admin_query(self.pg_base, f'DROP DATABASE IF EXISTS "{self.db_name}"')
        except Exception as error:  # noqa: BLE001 - clean-up is best effort
            print(f"[chaos] could not drop {self.db_name}: {error}", flush=True)

    # -- environment of the server
    def server_env(self, *, nats: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.db_url,
            "EVENTAUTH_DATA_DIR": str(self.dir / "data"),
            "EVENTAUTH_LOG_FORMAT": "json",
            "RUST_LOG": self.args.rust_log,
            "EVENTAUTH_DB_MAX_CONNECTIONS": "10",
        }
        env.update(self.common_env)
        if nats and self.nats_url:
            env.update({
                "NATS_URL": self.nats_url,
                "EVENTAUTH_NATS_STREAM": self.stream,
                "EVENTAUTH_NATS_SUBJECT_PREFIX": self.prefix,
            })
            self.stream_used = True
        env.update(extra or {})
        env.update(parse_env_pairs(self.args.server_env))
        return env

    def server(self, name: str, env: dict[str, str], port: int | None = None) -> "Server":
        server = Server(self.bin, env, self.dir / f"{name}.log", port or self.args.port or free_port(),
                        name=name)
        self.servers.append(server)
        return server

    def cli(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess:
        """Runs `eventauth <argv>` on this run's database."""
        full_env = dict(os.environ)
        full_env.update(self.server_env())
        full_env["RUST_LOG"] = "warn"  # the CLI logs to stdout too: keep its answer readable
        full_env.update(env or {})
        full_env.pop("NATS_URL", None)
        result = subprocess.run([str(self.bin), *argv], env=full_env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise RuntimeError(f"eventauth {' '.join(argv)} exited {result.returncode}; last lines:\n{tail[-2000:]}")
        return result

    def close(self) -> None:
        for server in self.servers:
            server.terminate(wait=10)
        if self.args.keep:
            print(f"[chaos] kept: {self.dir}, database {self.db_name}"
                  + (f", stream {self.stream}" if self.stream_used else ""), flush=True)
            return
        if self.stream_used and self.nats_url:
            # In a thread of its own: close() may be called inside a running loop.
            def delete():
                import asyncio
                try:
                    asyncio.run(delete_stream(self.nats_url, self.stream))
                except Exception as error:  # noqa: BLE001
                    print(f"[chaos] could not delete stream {self.stream}: {error}", flush=True)
            t = threading.Thread(target=delete)
            t.start()
            t.join(30)
        self.drop_database()
        # Keep the logs (small); drop the data dir (blobs).
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        print(f"[chaos] logs kept in {self.dir}", flush=True)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when this script dies, so a crashed
    run leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:  # noqa: BLE001
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the server

class Server:
    """An `eventauth serve` child process on a fixed address."""

    def __init__(self, binary: Path, env: dict[str, str], log_path: Path, port: int,
                 name: str = "server"):
        self.binary = binary
        self.env = dict(env)
        self.env.setdefault("EVENTAUTH_ADDR", f"127.0.0.1:{port}")
        self.port = port
        self.url = f"http://{self.env['EVENTAUTH_ADDR']}"
        self.name = name
        self.log_path = log_path
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.listening = threading.Event()
        self.starts = 0
        self.preexec = None  # e.g. a resource limit for the child

    def start(self, timeout: float = 90) -> "Server":
        env = dict(os.environ)
        env.pop("NATS_URL", None)
        env.update(self.env)
        self.listening.clear()
        self.starts += 1
        log = open(self.log_path, "a", buffering=1)
        log.write(f"----- start #{self.starts} at {_dt.datetime.now().isoformat()}\n")
        extra = self.preexec

        def preexec():
            die_with_parent()
            if extra:
                extra()

        self.proc = subprocess.Popen([str(self.binary), "serve"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     preexec_fn=preexec)
        threading.Thread(target=self._pump, args=(self.proc, log), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.listening.wait(0.1):
                return self
            if self.proc.poll() is not None:
                break
        tail = "\n".join(self.lines[-30:])
        raise RuntimeError(f"{self.name} did not start (exit {self.proc.poll()}); last lines:\n{tail}")

    def _pump(self, proc: subprocess.Popen, log) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            with self.lock:
                self.lines.append(line)
            log.write(line + "\n")
            if "eventauth listening" in line:
                self.listening.set()
        log.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, wait: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after `wait` seconds. Returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def log_lines(self) -> list[str]:
        with self.lock:
            return list(self.lines)


# ---------------------------------------------------------------- PostgreSQL

def admin_query(pg_base: str, sql: str, params: tuple = ()) -> None:
    import psycopg2
    conn = psycopg2.connect(f"{pg_base}/postgres", connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def query(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2
    conn = psycopg2.connect(db_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def events_in_order(db_url: str) -> list[tuple[str, str, str, str]]:
    """(event_id, aggregate_type, aggregate_id, event_type) of every event,
    in global delivery order (transaction id, then position)."""
    return query(db_url, "SELECT event_id::text, aggregate_type, aggregate_id, event_type "
                         "FROM events ORDER BY transaction_id, global_position")


# ---------------------------------------------------------------- NATS

async def delete_stream(nats_url: str, stream: str) -> None:
    import nats
    nc = await nats.connect(nats_url, connect_timeout=3, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def stream_messages(nats_url: str, stream: str, subject: str, expect: int,
                          timeout: float = 120, quiet_after: float = 2) -> dict:
    """Reads the whole stream from the start with an ordered (ephemeral push)
    consumer. Waits until the stream holds at least `expect` messages (or
    `timeout` passes), then reads everything it holds, plus anything that
    arrives within `quiet_after` seconds. Returns {"messages": [...],
    "stream_count": n, "waited": s} with each message as
    {"seq", "msg_id", "event"}."""
    import nats
    from nats.js.api import DeliverPolicy
    started = time.monotonic()
    nc = await nats.connect(nats_url, connect_timeout=5)
    try:
        js = nc.jetstream()
        count = 0
        while True:
            try:
                count = (await js.stream_info(stream)).state.messages
            except Exception:  # noqa: BLE001 - not created yet
                count = 0
            if count >= expect or time.monotonic() - started > timeout:
                break
            await _sleep(0.5)
        waited = time.monotonic() - started
        out = []
        if count == 0:
            return {"messages": out, "stream_count": 0, "waited": waited}
        sub = await js.subscribe(subject, stream=stream, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.ALL,
                                 pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=quiet_after if len(out) >= count else 15)
                except Exception:  # noqa: BLE001 - timeout: nothing more
                    break
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    event = {"unparsable": msg.data[:200].decode("utf-8", "replace")}
                out.append({
                    "seq": msg.metadata.sequence.stream,
                    "msg_id": (msg.headers or {}).get("Nats-Msg-Id"),
                    "event": event,
                    "raw": msg.data,
                    "headers": dict(msg.headers or {}),
                    "subject": msg.subject,
                })
        finally:
            await sub.unsubscribe()
        return {"messages": out, "stream_count": count, "waited": waited}
    finally:
        await nc.close()


async def _sleep(seconds: float) -> None:
    import asyncio
    await asyncio.sleep(seconds)


def compare_stream(events: list[tuple], messages: list[dict], prefix: str) -> list[str]:
    """Problems found comparing the events table (in delivery order) with the
    stream's messages (in stream order): missing, duplicated, extra,
    reordered, wrong subject, msg id not the event id."""
    problems: list[str] = []
    table_ids = [e[0] for e in events]
    stream_ids = [m["event"].get("id") for m in messages]
    seqs = [m["seq"] for m in messages]
    if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        problems.append("the consumer saw stream sequences out of order or twice")
    seen: dict[str, int] = {}
    for sid in stream_ids:
        seen[sid] = seen.get(sid, 0) + 1
    dups = [i for i, n in seen.items() if n > 1]
    if dups:
        problems.append(f"{len(dups)} event id(s) on the stream more than once, e.g. {dups[:3]}")
    table_set = set(table_ids)
    missing = [i for i in table_ids if i not in seen]
    extra = [i for i in seen if i not in table_set]
    if missing:
        problems.append(f"{len(missing)} event(s) of the table never reached the stream, "
                        f"e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} message(s) on the stream that are not in the table, e.g. {extra[:3]}")
    # Order: the stream's first occurrences must follow the table's order.
    first_index = {}
    for n, sid in enumerate(stream_ids):
        first_index.setdefault(sid, n)
    present = [i for i in table_ids if i in first_index]
    positions = [first_index[i] for i in present]
    inversions = sum(1 for a, b in zip(positions, positions[1:]) if b < a)
    if inversions:
        k = next(n for n, (a, b) in enumerate(zip(positions, positions[1:])) if b < a)
        problems.append(f"stream order differs from the table's global order at {inversions} place(s), "
                        f"first after event #{k} ({present[k]})")
    by_id = {e[0]: e for e in events}
    wrong_subject = wrong_msgid = 0
    for m in messages:
        e = by_id.get(m["event"].get("id"))
        if not e:
            continue
        if m["subject"] != f"{prefix}.{e[1]}.{e[3]}":
            wrong_subject += 1
        if m["msg_id"] != e[0]:
            wrong_msgid += 1
    if wrong_subject:
        problems.append(f"{wrong_subject} message(s) on a subject other than <prefix>.<aggregate>.<Event>")
    if wrong_msgid:
        problems.append(f"{wrong_msgid} message(s) whose Nats-Msg-Id is not the event id")
    return problems


async def check_stream(run: Run, timeout: float = 120) -> tuple[list[str], dict]:
    """The table-vs-stream comparison, with figures. Rereads when events were
    written while the stream was being read (background work)."""
    started = time.monotonic()
    events = events_in_order(run.db_url)
    while True:
        left = max(5.0, timeout - (time.monotonic() - started))
        got = await stream_messages(run.nats_url, run.stream, f"{run.prefix}.>", len(events), timeout=left)
        latest = events_in_order(run.db_url)
        if len(latest) == len(events) or time.monotonic() - started > timeout:
            events = latest if len(got["messages"]) >= len(latest) else events
            break
        events = latest
    problems = compare_stream(events, got["messages"], run.prefix)
    figures = {"events_in_table": len(events), "messages_on_stream": got["stream_count"],
               "messages_read": len(got["messages"]), "waited_for_stream_s": round(time.monotonic() - started, 1)}
    return problems, figures


# ---------------------------------------------------------------- shared servers (NATS, PostgreSQL)
#
# These act on the machine's shared NATS server (the one listening on
# 127.0.0.1:4222, found by its listening socket: tests start nats-servers of
# their own from the same binary on other ports, which must not be touched)
# and on the shared PostgreSQL cluster. Callers restore them in `finally`.

def shared_nats_pid(port: int = 4222) -> int | None:
    r = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "nats-server" in line and "pid=" in line:
            return int(line.split("pid=")[1].split(",")[0])
    return None


def stop_nats_server() -> None:
    """SIGTERM to the shared NATS server (start-stop-daemon, that pid only)."""
    pid = shared_nats_pid()
    if pid:
        subprocess.run(["start-stop-daemon", "--stop", "--exec", NATS_SERVER, "--pid", str(pid),
                        "--retry", "TERM/10/KILL/5"], check=False)


def kill9_nats_server() -> None:
    pid = shared_nats_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)


def start_nats_server(timeout: float = 15) -> bool:
    """Starts the shared NATS server unless it listens; True once it does."""
    if wait_port("127.0.0.1", 4222, 0.5):
        return True
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", NATS_SERVER,
                    "--", *NATS_START_ARGS], check=False)
    if wait_port("127.0.0.1", 4222, timeout):
        return True
    # --oknodo also "succeeds" when some other nats-server (a test's own, on
    # another port) runs from the same binary: start ours by a pid file.
    pidfile = "/tmp/chaos/nats-server-4222.pid"
    subprocess.run(["start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile", pidfile,
                    "--exec", NATS_SERVER, "--", *NATS_START_ARGS], check=False)
    return wait_port("127.0.0.1", 4222, timeout)


PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]


def pg_ctl(action: str) -> int:
    return subprocess.run([*PG_CTL, action], capture_output=True, text=True).returncode


def pg_accepting(timeout: float = 2) -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-t", str(int(max(1, timeout)))],
                          capture_output=True).returncode == 0


def ensure_postgres_running(timeout: float = 60) -> bool:
    """Starts the shared PostgreSQL cluster unless it accepts connections."""
    if pg_accepting(1):
        return True
    pg_ctl("start")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg_accepting(1):
            return True
        time.sleep(0.5)
    return False


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


# ---------------------------------------------------------------- private servers
#
# Stand-ins for the shared servers, so the outage scripts can be tried
# without disturbing anyone (--private-nats, --private-postgres).

class SharedNats:
    """The machine's NATS server on 127.0.0.1:4222."""
    url = DEFAULT_NATS
    name = "the shared NATS server (127.0.0.1:4222)"

    def stop(self):
        stop_nats_server()

    def kill9(self):
        kill9_nats_server()

    def start(self) -> bool:
        return start_nats_server()

    def close(self):
        start_nats_server()


class PrivateNats:
    """A nats-server of this run's own, on a free port, its store in `dir`."""

    def __init__(self, dir: Path):
        self.port = free_port()
        self.dir = dir
        self.url = f"nats://127.0.0.1:{self.port}"
        self.name = f"a private NATS server (127.0.0.1:{self.port})"
        self.proc: subprocess.Popen | None = None

    def start(self) -> bool:
        if self.proc and self.proc.poll() is None:
            return True
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                      "-sd", str(self.dir), "-l", str(self.dir / "nats.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        return wait_port("127.0.0.1", self.port, 15)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()


class SharedPostgres:
    """The machine's PostgreSQL 15 cluster "main" on 127.0.0.1:5432."""
    base = DEFAULT_PG
    name = "the shared PostgreSQL cluster 15/main"

    def ctl(self, action: str) -> int:
        return pg_ctl(action)

    def accepting(self, timeout: float = 1) -> bool:
        return pg_accepting(timeout)

    def ensure_running(self) -> bool:
        return ensure_postgres_running()

    def close(self):
        ensure_postgres_running()


class PrivatePostgres:
    """A throw-away PostgreSQL 15 cluster of this run's own (initdb as the
    postgres user, trust auth, a free port, socket in its directory)."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, dir: Path):
        self.dir = dir
        self.data = dir / "pgdata"
        self.port = free_port()
        self.base = f"postgres://postgres@127.0.0.1:{self.port}"
        self.name = f"a private PostgreSQL cluster (127.0.0.1:{self.port})"
        dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(dir, "postgres", "postgres")
        self._as_postgres([str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{dir}'\nmax_connections = 200\nfsync = on\n")

    def _as_postgres(self, argv: list[str]) -> int:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True).returncode

    def ctl(self, action: str) -> int:
        argv = [str(self.BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w"]
        if action == "stop":
            return self._as_postgres([*argv, "-m", "fast", "stop"])
        if action == "restart":
            return self._as_postgres([*argv, "-m", "fast", "restart"])
        return self._as_postgres([*argv, "start"])

    def accepting(self, timeout: float = 1) -> bool:
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t",
                               str(int(max(1, timeout)))], capture_output=True).returncode == 0

    def ensure_running(self) -> bool:
        if not self.accepting(1):
            self.ctl("start")
        return self.accepting(5)

    def close(self):
        self.ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- figures

def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f} ms"


def latency_line(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"n={len(values)} p50={ms(percentile(values, 50))} p90={ms(percentile(values, 90))} "
            f"p99={ms(percentile(values, 99))} max={ms(max(values))}")


class Checks:
    """Named checks; the final line says PASS or FAIL."""

    def __init__(self):
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)

    @property
    def failed(self) -> list[str]:
        return [name for name, ok, _ in self.results if not ok]

    def finish(self, script: str) -> int:
        failed = self.failed
        print(flush=True)
        if failed:
            print(f"{script}: {len(failed)} of {len(self.results)} checks failed: {'; '.join(failed)}")
            print("FAIL", flush=True)
            return 1
        print(f"{script}: all {len(self.results)} checks passed")
        print("PASS", flush=True)
        return 0


def jwt_claims(token: str) -> dict:
    import base64
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except Exception:  # noqa: BLE001
        return {}


def say(text: str) -> None:
    print(f"[{_dt.datetime.now().strftime('%H:%M:%S')}] {text}", flush=True)
