#!/usr/bin/env python3
"""NATS stopped, then killed, under load (issue 19, "the worst day").

!!! This stops the machine's SHARED NATS server (the one on
!!! 127.0.0.1:4222; found by its listening socket, so nats-servers that
!!! tests start on other ports are left alone) for --stop-seconds (default
!!! 60) and kills it (-9) for --kill-seconds (default 30). It is started
!!! again in a `finally` block, and on SIGINT/SIGTERM, whatever happens.
!!! Run it rarely and with short durations on a shared machine.

Starts eventauth on a fresh database with the relay on (fresh stream and
subject prefix) and N ILD writers (workload.py). Then:

1. warm-up (--warm s);
2. NATS stopped (start-stop-daemon --stop, SIGTERM) for --stop-seconds,
   started again; settle (--settle s);
3. NATS killed (SIGKILL) for --kill-seconds, started again; settle;
4. the load stops; the relay must catch up.

Reports the writers' outcomes during each outage (commands must not be
blocked or failed by NATS being down), the relay's lag (events in the
table minus messages on the stream, sampled every second) and how long
the stream took to catch up once NATS was back. Checks (PASS/FAIL): no
5xx and no drop in acknowledged commands during the outages (at least
--min-throughput of the warm-up's rate), every acknowledged command in the
store, and every event on the stream exactly once, in order (nats-py
ordered consumer from the start, compared with the events table).

Deps: Python 3.9+, aiohttp, nats-py, psycopg2-binary; the script creates
/tmp/chaos-venv and installs them when missing. Needs root
(start-stop-daemon), /usr/sbin/nats-server, PostgreSQL (trust auth).

    python3 scripts/chaos/nats_outage.py                                  # 60 s stop, 30 s kill
    python3 scripts/chaos/nats_outage.py --stop-seconds 15 --kill-seconds 10 --writers 30
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

import workload  # noqa: E402

WRITE_OPS = ("register", "profile", "join", "login")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--writers", type=int, default=100, help="concurrent writers (default %(default)s)")
    p.add_argument("--warm", type=float, default=10, help="seconds of load before the first fault")
    p.add_argument("--settle", type=float, default=10, help="seconds of load after each fault")
    p.add_argument("--stop-seconds", type=float, default=60, help="NATS stopped this long (default %(default)s)")
    p.add_argument("--kill-seconds", type=float, default=30, help="NATS killed this long (default %(default)s)")
    p.add_argument("--mix", default=workload.DEFAULT_MIX)
    p.add_argument("--think", type=float, default=0.1)
    p.add_argument("--min-throughput", type=float, default=0.5,
                   help="acknowledged commands/s during an outage, as a share of the warm-up's (default %(default)s)")
    p.add_argument("--private-nats", action="store_true",
                   help="stop and kill a nats-server of the run's own (free port, own store) instead of the "
                        "shared one: for trying the script without disturbing anyone")
    p.add_argument("--stream-timeout", type=float, default=180,
                   help="seconds to wait for the stream to catch up (default %(default)s)")
    chaoslib.add_common_args(p, nats=True)
    return p.parse_args()


async def counts(run: chaoslib.Run) -> tuple[int | None, int | None]:
    """(events in the table, messages on the stream); None when unreachable."""
    import nats
    try:
        events = (await asyncio.to_thread(chaoslib.query, run.db_url, "SELECT count(*) FROM events"))[0][0]
    except Exception:  # noqa: BLE001
        events = None
    stream = None
    try:
        async def quiet(_error):  # nats-py prints a traceback per failed connect otherwise
            pass

        nc = await nats.connect(run.nats_url, connect_timeout=1, allow_reconnect=False,
                                max_reconnect_attempts=0, error_cb=quiet)
        try:
            stream = (await nc.jetstream().stream_info(run.stream)).state.messages
        finally:
            await nc.close()
    except Exception:  # noqa: BLE001
        stream = None
    return events, stream


async def main(args) -> int:
    checks = chaoslib.Checks()
    run = chaoslib.Run("natsout", args)
    target = chaoslib.PrivateNats(run.dir / "nats") if args.private_nats else chaoslib.SharedNats()
    run.nats_url = target.url
    print(f"[chaos] outages of {target.name}")
    windows: list[dict] = []
    lag: list[tuple[float, int | None, int | None]] = []
    try:
        if not target.start():
            raise RuntimeError(f"{target.name} is not running and does not start")
        run.create_database()
        server = run.server("server", run.server_env(nats=True))
        server.start()
        load = workload.Workload(server.url, args.writers, run.id[-10:], mix=args.mix, think=args.think)
        await load.setup(run)
        monitor_stop = asyncio.Event()

        async def monitor():
            while not monitor_stop.is_set():
                e, s = await counts(run)
                lag.append((time.monotonic(), e, s))
                await asyncio.sleep(1)

        monitor_task = asyncio.create_task(monitor())

        async def outage(name: str, down, seconds: float):
            w = {"name": name, "start": time.monotonic()}
            chaoslib.say(f"{name}: NATS down for {seconds:.0f} s")
            try:
                await asyncio.to_thread(down)
                w["down_at"] = time.monotonic()
                await asyncio.sleep(seconds)
            finally:
                ok = await asyncio.to_thread(target.start)
                w["end"] = time.monotonic()
                chaoslib.say(f"{name}: NATS started again ({'listening' if ok else 'NOT LISTENING'})")
            windows.append(w)

        async def faults():
            await asyncio.sleep(args.warm)
            await outage("stop", target.stop, args.stop_seconds)
            await asyncio.sleep(args.settle)
            await outage("kill -9", target.kill9, args.kill_seconds)
            await asyncio.sleep(args.settle)
            load.stop.set()

        chaoslib.say(f"{args.writers} writers; NATS stopped {args.stop_seconds:.0f} s, killed {args.kill_seconds:.0f} s")
        t0 = time.monotonic()
        await load.run(args.warm + args.stop_seconds + args.kill_seconds + 2 * args.settle + 120, faults)
        t_load_end = time.monotonic()
        for line in load.summary():
            print("  " + line)

        def acked_rate(a, b):
            n = sum(1 for x in load.ledger.acked if a <= x["t"] < b)
            return n / (b - a) if b > a else 0.0

        warm_rate = acked_rate(t0 + 2, t0 + args.warm)
        print(f"\nwarm-up: {warm_rate:.1f} acknowledged commands/s")
        for w in windows:
            a, b = w["start"], w["end"]
            tl = [x for x in load.ledger.timeline if a <= x.start < b and x.op in WRITE_OPS]
            outcomes = Counter(x.status if x.status is not None else x.error for x in tl)
            w["rate"] = acked_rate(a, b)
            w["five"] = [x for x in tl if x.status is None or x.status >= 500]
            print(f"{w['name']}: {b - a:.1f} s; {w['rate']:.1f} acknowledged commands/s; outcomes {dict(outcomes)}")
            # Catch-up: from NATS back until the stream holds what the table held then.
            table_then = next((e for t, e, s in lag if t >= b and e is not None), None)
            caught = next((t for t, e, s in lag
                           if t >= b and s is not None and table_then is not None and s >= table_then), None)
            w["catch_up"] = (caught - b) if caught else None
            on_stream_before = next((s for t, e, s in reversed(lag) if t < a and s is not None), None)
            behind = (table_then - on_stream_before) if table_then is not None and on_stream_before is not None else None
            print(f"  the stream was {behind} events behind when NATS came back; it caught up "
                  f"{w['catch_up'] if w['catch_up'] is None else round(w['catch_up'], 1)} s later (sampled every 1 s)")
        monitor_stop.set()
        await monitor_task

        print("\nchecks:")
        checks.check(f"{target.name} is back", await asyncio.to_thread(target.start))
        for w in windows:
            checks.check(f"NATS {w['name']}: commands neither fail nor error (no 5xx, no connection errors)",
                         not w["five"], f"{len(w['five'])}: {dict(Counter(x.status or x.error for x in w['five']))}")
            checks.check(f"NATS {w['name']}: commands not slowed (>= {args.min_throughput:.0%} of the warm-up rate)",
                         w["rate"] >= args.min_throughput * warm_rate, f"{w['rate']:.1f}/s vs {warm_rate:.1f}/s")
        checks.check("ready after the load", await load.ready(60))
        await load.verify_acked(run, checks)
        t = time.monotonic()
        problems, figures = await chaoslib.check_stream(run, timeout=args.stream_timeout)
        figures["caught_up_after_load_s"] = round(time.monotonic() - t_load_end, 1)
        checks.check("every event on NATS exactly once, in global order", not problems,
                     ", ".join(f"{k} {v}" for k, v in figures.items())
                     + (f"; {'; '.join(problems)}" if problems else ""))
        await load.client.close()
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        try:
            if not target.start():
                print(f"!!! {target.name} did not come back" + ("" if args.private_nats else
                      ": start it with\n    start-stop-daemon --start --oknodo --background --exec "
                      "/usr/sbin/nats-server -- " + " ".join(chaoslib.NATS_START_ARGS)))
        finally:
            try:
                run.close()
            finally:
                if args.private_nats:
                    target.close()
    return checks.finish("nats_outage")


if __name__ == "__main__":
    def _term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(main(arguments)))
    finally:
        if not arguments.private_nats:
            chaoslib.start_nats_server()
