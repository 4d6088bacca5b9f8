#!/usr/bin/env python3
"""PostgreSQL restarted, then stopped, under load (issue 19, "the worst day").

!!! This stops the machine's SHARED PostgreSQL cluster (15/main) for
!!! --stop-seconds (default 15): everything else using it (other people's
!!! test runs) fails meanwhile. It is restarted in a `finally` block, and on
!!! SIGINT/SIGTERM, whatever happens. Run it rarely, and say so.

Starts eventauth on a fresh database with N ILD writers (workload.py), a
prober of GET /ready (every 0.5 s, 5 s timeout) and a client checking a
cached token (GET /sign/check with a bearer token, every 0.2 s). Then:

1. warm-up (--warm s);
2. `pg_ctlcluster --skip-systemctl-redirect 15 main restart`; settle;
3. `... stop`, --stop-seconds later `... start`; settle.

Reports, for each outage window (from the pg_ctlcluster command until
PostgreSQL accepts connections again): the status codes and errors the
writers got, the latency of the failed requests, /ready's answers and
latency, the cached-token checks, and the recovery time (until the first
acknowledged write and the first /ready 200 after PostgreSQL is back).
Afterwards every acknowledged command must be in the store and `eventauth
verify` clean.

Checks (PASS/FAIL): no 500 during the outages; every 5xx there is a 503
with Retry-After; failed requests fail fast (p99 <= --fail-fast s); /ready
answers within 1 s throughout (--ready-within); cached-token checks keep
succeeding (>= --check-success); recovery within --max-recovery s; no
acknowledged command lost; verify clean.

Deps: Python 3.9+, aiohttp, psycopg2-binary (+ nats-py, unused); the
script creates /tmp/chaos-venv and installs them when missing. Needs root
(pg_ctlcluster) and PostgreSQL 15 cluster "main" with trust auth.

    python3 scripts/chaos/postgres_outage.py --stop-seconds 8
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaoslib  # noqa: E402

chaoslib.bootstrap()

import asyncio  # noqa: E402

import aiohttp  # noqa: E402

import workload  # noqa: E402

WRITE_OPS = ("register", "profile", "join", "login")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--writers", type=int, default=50, help="concurrent writers (default %(default)s)")
    p.add_argument("--warm", type=float, default=10, help="seconds of load before the first fault")
    p.add_argument("--settle", type=float, default=10, help="seconds of load after each fault")
    p.add_argument("--stop-seconds", type=float, default=15,
                   help="how long PostgreSQL stays stopped (default %(default)s; more needs --allow-long-stop)")
    p.add_argument("--allow-long-stop", action="store_true", help="allow --stop-seconds over 15")
    p.add_argument("--no-restart", action="store_true", help="skip the restart fault")
    p.add_argument("--private-postgres", action="store_true",
                   help="restart and stop a throw-away PostgreSQL cluster of the run's own (initdb, free port) "
                        "instead of the shared one: for trying the script without disturbing anyone")
    p.add_argument("--mix", default=workload.DEFAULT_MIX)
    p.add_argument("--think", type=float, default=0.1)
    p.add_argument("--fail-fast", type=float, default=5.0,
                   help="p99 latency (s) allowed for requests that failed during the outage")
    p.add_argument("--ready-within", type=float, default=1.0, help="max /ready latency, seconds")
    p.add_argument("--check-success", type=float, default=0.99,
                   help="share of cached-token checks that must succeed during the outage")
    p.add_argument("--max-recovery", type=float, default=30.0,
                   help="seconds after PostgreSQL is back by which writes must succeed again")
    chaoslib.add_common_args(p)
    args = p.parse_args()
    if args.stop_seconds > 15 and not args.allow_long_stop:
        p.error("--stop-seconds over 15 stops the shared PostgreSQL for long; add --allow-long-stop")
    return args


class Prober:
    """Calls one path every `period` seconds (each call on its own: a slow
    answer does not delay the next probe), recording (t, status|error,
    latency)."""

    def __init__(self, url: str, path: str, period: float, timeout: float, token: str | None = None):
        self.url, self.path, self.period, self.token = url, path, period, token
        self.samples: list[tuple[float, object, float]] = []
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                             connector=aiohttp.TCPConnector(limit=0))
        self.stop = asyncio.Event()

    async def one(self):
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        t = time.monotonic()
        try:
            async with self.session.get(self.url + self.path, headers=headers) as r:
                await r.read()
                outcome = r.status
        except asyncio.TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError as e:
            outcome = type(e).__name__
        self.samples.append((t, outcome, time.monotonic() - t))

    async def run(self):
        tasks = set()
        while not self.stop.is_set():
            task = asyncio.create_task(self.one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(self.period)
        if tasks:
            await asyncio.wait(tasks)
        await self.session.close()

    def window(self, a: float, b: float):
        return [s for s in self.samples if a <= s[0] < b]


async def main(args) -> int:
    checks = chaoslib.Checks()
    run = chaoslib.Run("pgout", args)
    windows: list[dict] = []
    target = None
    try:
        if args.private_postgres:
            target = chaoslib.PrivatePostgres(run.dir / "pg")
            if target.ctl("start") != 0:
                raise RuntimeError("the private PostgreSQL cluster does not start")
        else:
            target = chaoslib.SharedPostgres()
        run.pg_base = target.base
        run.db_url = f"{target.base}/{run.db_name}"
        print(f"[chaos] outages of {target.name}")
        run.create_database()
        server = run.server("server", run.server_env())
        server.start()
        load = workload.Workload(server.url, args.writers, run.id[-10:], mix=args.mix, think=args.think)
        await load.setup(run)
        # A token for the cached-token checks.
        status, body, _, _ = await load.client.call(
            "setup", "POST", "/sign/login",
            json={"email": workload.ADMIN_EMAIL, "password": workload.ADMIN_PASSWORD})
        ready = Prober(server.url, "/ready", 0.5, 5.0)
        check = Prober(server.url, "/sign/check", 0.2, 5.0, token=body["token"])
        probes = [asyncio.create_task(ready.run()), asyncio.create_task(check.run())]

        async def outage(name: str, actions: list[tuple[str, float]]):
            """Runs pg_ctlcluster actions (with pauses after them); the window
            lasts until PostgreSQL accepts connections again."""
            w = {"name": name, "start": time.monotonic()}
            chaoslib.say(f"{name}: begins")
            for action, pause in actions:
                t = time.monotonic()
                rc = await asyncio.to_thread(target.ctl, action)
                chaoslib.say(f"  pg_ctlcluster {action}: exit {rc} in {time.monotonic() - t:.1f} s")
                if pause:
                    await asyncio.sleep(pause)
            while not await asyncio.to_thread(target.accepting, 1):
                await asyncio.sleep(0.2)
            w["end"] = time.monotonic()
            chaoslib.say(f"{name}: PostgreSQL accepts connections again after {w['end'] - w['start']:.1f} s")
            # Recovery: first acknowledged write and first /ready 200 after the end.
            first_ack = first_ready = None
            while time.monotonic() - w["end"] < max(args.max_recovery, args.settle) + 5:
                if first_ack is None and any(a["t"] > w["end"] for a in load.ledger.acked[-500:]):
                    first_ack = time.monotonic()
                if first_ready is None and any(s[0] > w["end"] and s[1] == 200 for s in ready.samples[-20:]):
                    first_ready = time.monotonic()
                if first_ack and first_ready:
                    break
                await asyncio.sleep(0.05)
            w["ack_after"] = (first_ack - w["end"]) if first_ack else None
            w["ready_after"] = (first_ready - w["end"]) if first_ready else None
            windows.append(w)

        async def faults():
            await asyncio.sleep(args.warm)
            if not args.no_restart:
                await outage("restart", [("restart", 0)])
                await asyncio.sleep(args.settle)
            try:
                await outage("stop", [("stop", args.stop_seconds), ("start", 0)])
            finally:
                await asyncio.to_thread(target.ensure_running)
            await asyncio.sleep(args.settle)
            load.stop.set()

        total = args.warm + args.settle * 2 + args.stop_seconds + 60
        chaoslib.say(f"{args.writers} writers; restart, then a {args.stop_seconds:.0f} s stop")
        await load.run(total, faults)
        ready.stop.set()
        check.stop.set()
        await asyncio.gather(*probes)

        for line in load.summary():
            print("  " + line)
        for w in windows:
            a, b = w["start"], w["end"]
            print(f"\n{w['name']} window: {b - a:.1f} s (from the pg_ctlcluster command until PostgreSQL "
                  f"accepts connections)")
            # Every write request that overlapped the window.
            tl = [x for x in load.ledger.timeline if x.start < b and x.end > a and x.op in WRITE_OPS]
            outcomes = Counter(x.status if x.status is not None else x.error for x in tl)
            failed = [x for x in tl if x.status is None or x.status >= 500]
            print(f"  writers: {len(tl)} requests overlapping it, outcomes {dict(outcomes)}")
            print(f"  failed requests' latency: {chaoslib.latency_line([x.end - x.start for x in failed])}")
            print(f"  all their latencies:      {chaoslib.latency_line([x.end - x.start for x in tl])}")
            five = [x for x in tl if x.status is not None and x.status >= 500]
            no_retry = [x for x in five if x.status == 503 and not x.retry_after]
            r = ready.window(a, b)
            print(f"  /ready: {dict(Counter(s[1] for s in r))}, latency {chaoslib.latency_line([s[2] for s in r])}")
            c = check.window(a, b)
            c_ok = sum(1 for s in c if s[1] == 200)
            print(f"  /sign/check (cached token): {c_ok}/{len(c)} ok, "
                  f"latency {chaoslib.latency_line([s[2] for s in c])}")
            print(f"  recovery after PostgreSQL is back: first acknowledged write "
                  f"{w['ack_after'] if w['ack_after'] is None else round(w['ack_after'], 2)} s, "
                  f"first /ready 200 {w['ready_after'] if w['ready_after'] is None else round(w['ready_after'], 2)} s")
            w.update(outcomes=outcomes, failed=failed, five=five, no_retry=no_retry, r=r, c=c, c_ok=c_ok)

        print("\nchecks:")
        for w in windows:
            n = w["name"]
            fives = Counter(x.status for x in w["five"])
            checks.check(f"{n}: no 500 (only 503)", all(s == 503 for s in fives), f"5xx seen: {dict(fives)}")
            checks.check(f"{n}: every 503 carries Retry-After", not w["no_retry"],
                         f"{len(w['no_retry'])} of {fives.get(503, 0)} without")
            fl = [x.end - x.start for x in w["failed"]]
            p99 = chaoslib.percentile(fl, 99) if fl else 0.0
            checks.check(f"{n}: failures fail fast (p99 <= {args.fail_fast:.0f} s)", p99 <= args.fail_fast,
                         f"p99 {chaoslib.ms(p99)}, max {chaoslib.ms(max(fl)) if fl else 'n/a'}, "
                         f"{len(fl)} failed")
            rl = [s[2] for s in w["r"]]
            checks.check(f"{n}: /ready answers within {args.ready_within:.0f} s", bool(rl) and max(rl) <= args.ready_within,
                         f"max {chaoslib.ms(max(rl)) if rl else 'no samples'}; answers {dict(Counter(s[1] for s in w['r']))}")
            share = w["c_ok"] / len(w["c"]) if w["c"] else 0.0
            checks.check(f"{n}: cached-token checks keep working", share >= args.check_success,
                         f"{w['c_ok']}/{len(w['c'])} ok")
            checks.check(f"{n}: writes succeed again within {args.max_recovery:.0f} s",
                         w["ack_after"] is not None and w["ack_after"] <= args.max_recovery,
                         f"{w['ack_after']}")
        checks.check("ready after the load", await load.ready(60))
        await load.verify_acked(run, checks)
        await asyncio.to_thread(workload.run_verify, run, checks)
        await load.client.close()
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        try:
            if target is not None and not target.ensure_running():
                print(f"!!! {target.name} did not come back" + ("" if args.private_postgres else
                      ": run `pg_ctlcluster --skip-systemctl-redirect 15 main start`"))
        finally:
            try:
                run.close()
            finally:
                if args.private_postgres and target is not None:
                    target.close()
    return checks.finish("postgres_outage")


if __name__ == "__main__":
    def _term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(main(arguments)))
    finally:
        if not arguments.private_postgres:
            chaoslib.ensure_postgres_running()
