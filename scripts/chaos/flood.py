#!/usr/bin/env python3
"""Connection flood: slowloris plus idle connections (issue 19, "the worst day").

Starts eventauth on a fresh PostgreSQL database, then:

1. baseline: a legitimate client on 127.0.0.1 calls GET /health and
   POST /sign/login every --interval seconds (each request on a new
   connection unless --keepalive), for --baseline seconds;
2. flood: N connections from 127.0.0.2 (the client socket is bound to it
   before connect; Linux loopback takes any 127.x): a share of them
   (--slowloris-share) start a request and then send one header byte every
   --trickle seconds, the rest connect and send nothing. The flood ramps up
   (--connect-concurrency connects in flight) and is held for --hold
   seconds while the legitimate client goes on;
3. after: the flood sockets are closed, the legitimate client goes on for
   --after seconds.

Reports the legitimate client's success rate and latencies per phase,
how many flood connections were established, refused, and closed by the
server (and how long after connecting), the server's open descriptors, and
whether it survived. PASS when, during the flood, the legitimate success
rate is >= --min-success and p99 <= --max-p99, the server lives, and at
least --min-closed of the established slowloris connections, and of the
idle ones (checked separately), were closed by the server within
--close-within seconds (connections released younger than that are not
judged).

Server limits are pass-through (set only when given): --header-timeout
(EVENTAUTH_HEADER_TIMEOUT, also set as EVENTAUTH_HEADER_READ_TIMEOUT),
--max-connections (EVENTAUTH_MAX_CONNECTIONS), --max-connections-per-ip
(EVENTAUTH_MAX_CONNECTIONS_PER_IP); anything else with --server-env.
The script raises its own RLIMIT_NOFILE to fit N (up to the hard limit;
beyond it only with CAP_SYS_RESOURCE) and, when one process cannot hold N
sockets, splits the flood over several processes (--workers), each with
its own descriptor limit. The server keeps the file-descriptor limit the
script was started with unless --server-nofile says otherwise.

Deps: Python 3.9+, aiohttp, psycopg2-binary; the script creates
/tmp/chaos-venv and installs them when missing. Needs PostgreSQL (trust
auth) on 127.0.0.1.

    python3 scripts/chaos/flood.py                          # 20,000 connections, 60 s
    python3 scripts/chaos/flood.py --connections 2000 --hold 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaoslib  # noqa: E402

chaoslib.bootstrap()

import asyncio  # noqa: E402

import aiohttp  # noqa: E402

import workload  # noqa: E402

PASSWORD = "legit-user-password-1"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--connections", type=int, default=20000, help="flood connections (default %(default)s)")
    p.add_argument("--slowloris-share", type=float, default=0.5,
                   help="share of flood connections that trickle header bytes; the rest stay idle "
                        "(default %(default)s)")
    p.add_argument("--trickle", type=float, default=5.0,
                   help="seconds between a slowloris connection's header bytes (default %(default)s)")
    p.add_argument("--source", default="127.0.0.2",
                   help="flood source address(es), comma-separated, used in turn (default %(default)s)")
    p.add_argument("--connect-concurrency", type=int, default=500,
                   help="flood connects in flight at once (default %(default)s)")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--baseline", type=float, default=5.0, help="seconds before the flood (default %(default)s)")
    p.add_argument("--hold", type=float, default=60.0,
                   help="seconds the flood is held after the ramp (default %(default)s)")
    p.add_argument("--after", type=float, default=5.0, help="seconds after the flood (default %(default)s)")
    p.add_argument("--interval", type=float, default=0.5,
                   help="the legitimate client's period, seconds (default %(default)s)")
    p.add_argument("--keepalive", action="store_true",
                   help="the legitimate client keeps its connection (default: a new connection per request)")
    p.add_argument("--legit-timeout", type=float, default=10.0,
                   help="the legitimate client's timeout per request (default %(default)s)")
    p.add_argument("--min-success", type=float, default=0.99)
    p.add_argument("--max-p99", type=float, default=2.0, help="seconds (default %(default)s)")
    p.add_argument("--min-closed", type=float, default=0.95,
                   help="share of established flood connections the server must close (default %(default)s)")
    p.add_argument("--close-within", type=float, default=20.0,
                   help="... within this many seconds of connecting (default %(default)s)")
    p.add_argument("--header-timeout", type=int, help="EVENTAUTH_HEADER_TIMEOUT for the server")
    p.add_argument("--max-connections", type=int, help="EVENTAUTH_MAX_CONNECTIONS for the server")
    p.add_argument("--max-connections-per-ip", type=int, help="EVENTAUTH_MAX_CONNECTIONS_PER_IP for the server")
    p.add_argument("--server-nofile", type=int,
                   help="RLIMIT_NOFILE (soft and hard) of the server (default: what this script started with)")
    p.add_argument("--workers", type=int, default=0,
                   help="flood processes (default: as many as the file-descriptor limit requires)")
    # A flood process's own arguments (set by the main process).
    for hidden in ("--target", "--control", "--status", "--out"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--flood-worker", action="store_true", help=argparse.SUPPRESS)
    chaoslib.add_common_args(p)
    return p.parse_args()


class FloodConn:
    __slots__ = ("kind", "connected_at", "closed_at", "answered", "error")

    def __init__(self, kind):
        self.kind = kind
        self.connected_at = None  # wall clock (time.time()): comparable across processes
        self.closed_at = None
        self.answered = None  # the first line the server sent, if any
        self.error = None

    def to_json(self):
        return [self.kind, self.connected_at, self.closed_at, self.answered, self.error]

    @classmethod
    def from_json(cls, row):
        c = cls(row[0])
        c.connected_at, c.closed_at, c.answered, c.error = row[1:]
        return c


async def flood_conn(conn: FloodConn, host: str, port: int, source: str, args, gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0)), args.connect_timeout)
        except asyncio.TimeoutError:
            conn.error = "connect timeout"
            return
        except OSError as e:
            conn.error = f"connect: {e.strerror or type(e).__name__}"
            return
    conn.connected_at = time.time()
    # The slowloris: a request line, then header bytes one at a time.
    trickle = iter(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100000)
    try:
        if conn.kind == "slow":
            writer.write(b"".join(bytes([next(trickle)]) for _ in range(24)))
            await writer.drain()
        while True:
            timeout = args.trickle * random.uniform(0.9, 1.1) if conn.kind == "slow" else 3600
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout)
            except asyncio.TimeoutError:
                if conn.kind == "slow":
                    writer.write(bytes([next(trickle)]))
                    await writer.drain()
                continue
            if not data:
                conn.closed_at = time.time()
                return
            if conn.answered is None:
                conn.answered = data.split(b"\r\n")[0][:60].decode("latin-1")
    except (ConnectionError, OSError) as e:
        conn.closed_at = time.time()
        conn.error = type(e).__name__
    except asyncio.CancelledError:
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001
            pass


def read_release(control: str) -> float | None:
    try:
        with open(control) as f:
            return float(f.read().strip() or "nan")
    except (OSError, ValueError):
        return None


async def flood(args, host: str, port: int, count: int, offset: int, control: str, status: str) -> list[FloodConn]:
    """`count` flood connections until the release time appears in the file
    `control` and passes; progress goes to the file `status` every second."""
    n_slow = round(count * args.slowloris_share)
    conns = [FloodConn("slow" if n < n_slow else "idle") for n in range(count)]
    random.shuffle(conns)
    sources = args.source.split(",")
    gate = asyncio.Semaphore(max(1, args.connect_concurrency))
    tasks = [asyncio.create_task(flood_conn(c, host, port, sources[(offset + n) % len(sources)], args, gate))
             for n, c in enumerate(conns)]
    try:
        while True:
            tried = sum(1 for c in conns if c.connected_at or c.error)
            open_now = sum(1 for c in conns if c.connected_at and not c.closed_at)
            closed = sum(1 for c in conns if c.closed_at)
            with open(status + ".tmp", "w") as f:
                json.dump({"tried": tried, "open": open_now, "closed": closed}, f)
            os.replace(status + ".tmp", status)
            release = read_release(control)
            if release is not None and time.time() >= release:
                break
            await asyncio.sleep(1 if release is None else min(1.0, max(0.0, release - time.time())))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return conns


async def worker_main(args) -> int:
    """--flood-worker: one share of the flood in a process of its own (each
    process has its own file-descriptor limit)."""
    raise_nofile(args.connections + 512)
    host, port = args.target.rsplit(":", 1)
    conns = await flood(args, host, int(port), args.connections, args.offset, args.control, args.status)
    with open(args.out, "w") as f:
        json.dump([c.to_json() for c in conns], f)
    return 0


def raise_nofile(need: int) -> tuple[int, int]:
    """Raises RLIMIT_NOFILE to `need` if allowed; returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
        except (ValueError, OSError):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (ValueError, OSError):
                pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Legit:
    def __init__(self, url: str, email: str, args):
        self.url = url
        self.email = email
        self.args = args
        self.samples: list[tuple[float, str, object, float]] = []  # (t, op, status|error, latency)
        self.stop = asyncio.Event()
        connector = aiohttp.TCPConnector(force_close=not args.keepalive, local_addr=("127.0.0.1", 0))
        self.session = aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=args.legit_timeout))

    async def one(self, op: str, method: str, path: str, json=None):
        t, t0 = time.time(), time.monotonic()
        try:
            async with self.session.request(method, self.url + path, json=json) as r:
                await r.read()
                outcome = r.status
        except asyncio.TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError as e:
            outcome = type(e).__name__
        self.samples.append((t, op, outcome, time.monotonic() - t0))

    async def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            await asyncio.gather(
                self.one("health", "GET", "/health"),
                self.one("login", "POST", "/sign/login", {"email": self.email, "password": PASSWORD}))
            await asyncio.sleep(max(0.0, self.args.interval - (time.monotonic() - t)))
        await self.session.close()

    def report(self, name: str, since: float, until: float) -> tuple[float, float, int]:
        rows = [s for s in self.samples if since <= s[0] < until]
        ok = [s for s in rows if s[2] == 200]
        rate = len(ok) / len(rows) if rows else float("nan")
        lat = [s[3] for s in rows]
        outcomes = Counter(str(s[2]) for s in rows)
        print(f"  {name:<9} requests {len(rows):5d}  success {rate:7.2%}  outcomes {dict(outcomes)}")
        for op in ("health", "login"):
            op_lat = [s[3] for s in rows if s[1] == op]
            print(f"            {op:<6} {chaoslib.latency_line(op_lat)}")
        p99 = chaoslib.percentile(lat, 99) if lat else float("nan")
        return rate, p99, len(rows)


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def main(args) -> int:
    checks = chaoslib.Checks()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    have = raise_nofile(args.connections + 1024)
    per_process = max(100, have[0] - 512)
    workers = args.workers or max(1, -(-args.connections // per_process))
    print(f"[flood] RLIMIT_NOFILE: {have} (started with {(soft, hard)}); "
          f"{workers} flood process(es) of up to {per_process} connections")
    run = chaoslib.Run("flood", args)
    server = None
    try:
        run.create_database()
        extra = {}
        if args.header_timeout is not None:
            extra["EVENTAUTH_HEADER_TIMEOUT"] = str(args.header_timeout)
            extra["EVENTAUTH_HEADER_READ_TIMEOUT"] = str(args.header_timeout)
        if args.max_connections is not None:
            extra["EVENTAUTH_MAX_CONNECTIONS"] = str(args.max_connections)
        if args.max_connections_per_ip is not None:
            extra["EVENTAUTH_MAX_CONNECTIONS_PER_IP"] = str(args.max_connections_per_ip)
        server = run.server("server", run.server_env(extra=extra))
        server_nofile = (args.server_nofile, args.server_nofile) if args.server_nofile else (soft, hard)
        server.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, server_nofile)
        server.start()
        print(f"[flood] server pid {server.pid} at {server.url}, RLIMIT_NOFILE {server_nofile}; "
              f"limits given: {extra or 'none (server defaults)'}")
        ledger = workload.Ledger()
        setup = workload.Client(server.url, ledger)
        email = "legit@chaos.test"
        status, body, _, _ = await setup.call("register", "POST", "/sign/register", json={
            "email": email, "password": PASSWORD, "firstName": "Legit", "lastName": "User"})
        await setup.close()
        if status != 201:
            raise RuntimeError(f"register: {status} {body}")

        legit = Legit(server.url, email, args)
        legit_task = asyncio.create_task(legit.run())
        t_start = time.time()
        chaoslib.say(f"baseline {args.baseline:.0f} s")
        await asyncio.sleep(args.baseline)

        host, port = "127.0.0.1", server.port
        control = str(run.dir / "flood-release")
        shares = [args.connections // workers + (1 if k < args.connections % workers else 0) for k in range(workers)]
        statuses = [str(run.dir / f"flood-status-{k}.json") for k in range(workers)]
        outs = [str(run.dir / f"flood-result-{k}.json") for k in range(workers)]
        t_flood = time.time()
        chaoslib.say(f"flood: {args.connections} connections from {args.source} "
                     f"({args.slowloris_share:.0%} slowloris, the rest idle)")
        if workers == 1:
            local = asyncio.create_task(flood(args, host, port, args.connections, 0, control, statuses[0]))
            procs = []
        else:
            local = None
            procs = []
            offset = 0
            for k, share in enumerate(shares):
                argv = [sys.executable, os.path.abspath(__file__), "--flood-worker",
                        "--connections", str(share), "--offset", str(offset), "--target", f"{host}:{port}",
                        "--control", control, "--status", statuses[k], "--out", outs[k],
                        "--source", args.source, "--slowloris-share", str(args.slowloris_share),
                        "--trickle", str(args.trickle), "--connect-timeout", str(args.connect_timeout),
                        "--connect-concurrency", str(max(1, args.connect_concurrency // workers))]
                procs.append(await asyncio.create_subprocess_exec(*argv, preexec_fn=chaoslib.die_with_parent))
                offset += share

        def progress():
            total = {"tried": 0, "open": 0, "closed": 0}
            for path in statuses:
                try:
                    with open(path) as f:
                        for key, value in json.load(f).items():
                            total[key] += value
                except (OSError, ValueError):
                    pass
            return total

        # Ramp: until every connect was tried.
        fd_samples = []
        while time.time() - t_flood < args.hold + 300:
            fd_samples.append(open_fds(server.pid) or 0)
            if progress()["tried"] >= args.connections:
                break
            await asyncio.sleep(1)
        t_ramped = time.time()
        t_release = t_ramped + args.hold
        with open(control, "w") as f:
            f.write(str(t_release))
        chaoslib.say(f"ramp done in {t_ramped - t_flood:.1f} s; holding {args.hold:.0f} s")
        next_print = time.time()
        while time.time() < t_release:
            fd_samples.append(open_fds(server.pid) or 0)
            if time.time() >= next_print:
                p = progress()
                recent = [x for x in legit.samples if x[0] > time.time() - 5]
                ok = sum(1 for x in recent if x[2] == 200)
                chaoslib.say(f"  flood open {p['open']}, closed by server {p['closed']}; server fds "
                             f"{fd_samples[-1]}; legit last 5 s: {ok}/{len(recent)} ok")
                next_print += 10
            await asyncio.sleep(min(1.0, max(0.05, t_release - time.time())))
        if local is not None:
            conns = await local
        else:
            conns = []
            for proc, out in zip(procs, outs):
                await proc.wait()
                try:
                    with open(out) as f:
                        conns += [FloodConn.from_json(row) for row in json.load(f)]
                except (OSError, ValueError) as e:
                    print(f"[flood] a flood process left no result ({e}); exit {proc.returncode}")
        chaoslib.say(f"flood released; {args.after:.0f} s after")
        await asyncio.sleep(args.after)
        legit.stop.set()
        await legit_task
        t_end = time.time()

        print("\nlegitimate client (127.0.0.1):")
        legit.report("baseline", t_start, t_flood)
        rate, p99, n = legit.report("flood", t_flood, t_release)
        legit.report("after", t_release, t_end)

        established = [c for c in conns if c.connected_at]
        failed = Counter(c.error for c in conns if not c.connected_at)
        closed = [c for c in established if c.closed_at]
        # Judged below: connections the server closed, and those still open at
        # the release that had been open at least --close-within seconds
        # (younger ones had no chance).
        still_open = [c for c in established if not c.closed_at]
        oldest_open = max((t_release - c.connected_at for c in still_open), default=0.0)
        answered = Counter(c.answered for c in closed if c.answered)
        print("\nflood connections:")
        print(f"  established {len(established)} of {len(conns)}; not established: {dict(failed) or 0}")
        for kind in ("slow", "idle"):
            est = [c for c in established if c.kind == kind]
            cl = [c.closed_at - c.connected_at for c in est if c.closed_at]
            print(f"  {kind:<5} established {len(est)}, closed by the server {len(cl)}"
                  + (f" after {chaoslib.latency_line(cl).replace(' ms', 'ms')}" if cl else ""))
        if answered:
            print(f"  the server answered before closing: {dict(answered)}")
        if still_open:
            print(f"  still open at the release: {len(still_open)} "
                  f"({dict(Counter(c.kind for c in still_open))}), the oldest for {oldest_open:.1f} s")
        print(f"  server descriptors: max {max(fd_samples) if fd_samples else 'n/a'} during the flood, "
              f"{open_fds(server.pid)} now")
        print(f"  ramp {t_ramped - t_flood:.1f} s, hold {t_release - t_ramped:.1f} s, {workers} flood process(es)")

        print("\nchecks:")
        checks.check("server alive after the flood", server.alive())
        checks.check(f"legitimate success rate during the flood >= {args.min_success:.0%}",
                     n > 0 and rate >= args.min_success, f"{rate:.2%} of {n}")
        checks.check(f"legitimate p99 latency during the flood <= {args.max_p99:.1f} s",
                     p99 == p99 and p99 <= args.max_p99, chaoslib.ms(p99))
        for kind, label in (("slow", "slowloris"), ("idle", "idle")):
            est = [c for c in established if c.kind == kind]
            if not est:
                continue
            quick = sum(1 for c in est if c.closed_at and c.closed_at - c.connected_at <= args.close_within)
            judged = sum(1 for c in est if c.closed_at or t_release - c.connected_at >= args.close_within)
            share = quick / judged if judged else 1.0
            checks.check(f"server closed >= {args.min_closed:.0%} of the {label} connections within "
                         f"{args.close_within:.0f} s", share >= args.min_closed,
                         f"{quick} of {judged} judged ({share:.1%}); {sum(1 for c in est if c.closed_at)} of "
                         f"{len(est)} closed at all" + ("" if args.hold >= args.close_within else
                                                       f"; hold {args.hold:.0f} s < {args.close_within:.0f} s: "
                                                       "younger ones not judged"))
    except Exception as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        run.close()
    return checks.finish("flood")


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(asyncio.run(worker_main(arguments) if arguments.flood_worker else main(arguments)))
