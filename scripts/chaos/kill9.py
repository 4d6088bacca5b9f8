#!/usr/bin/env python3
"""kill -9 under load (issue 19, "the worst day").

Starts eventauth on a fresh PostgreSQL database with the NATS relay on (a
fresh stream and subject prefix), runs N concurrent ILD writers
(registrations, logins, profile updates, community joins: see workload.py),
and kill -9s the server K times mid-load, restarting it each time on the
same address. Afterwards:

* every acknowledged command (2xx received) is in the events table and
  visible through the API;
* `eventauth verify` is clean (read models = a rebuild from the log);
* every event of the table is on the NATS stream exactly once, in the
  table's global order (read from the start with a nats-py ordered
  consumer), with Nats-Msg-Id = event id and the documented subject.

Prints figures (acknowledged commands per kind, outcomes, restart times)
and ends with PASS or FAIL; exits 1 on FAIL.

Deps: Python 3.9+, aiohttp, nats-py, psycopg2-binary. The script creates
/tmp/chaos-venv and installs them itself when they are missing (or:
python3 -m venv /tmp/chaos-venv && /tmp/chaos-venv/bin/pip install aiohttp
nats-py psycopg2-binary). Needs PostgreSQL (trust auth) and NATS
JetStream on 127.0.0.1.

    python3 scripts/chaos/kill9.py                       # 200 writers, 3 kills, 90 s
    python3 scripts/chaos/kill9.py --writers 20 --kills 1 --duration 20
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaoslib  # noqa: E402

chaoslib.bootstrap()

import asyncio  # noqa: E402

import workload  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--writers", type=int, default=200, help="concurrent writers (default %(default)s)")
    p.add_argument("--kills", type=int, default=3, help="kill -9s during the load (default %(default)s)")
    p.add_argument("--duration", type=float, default=90,
                   help="seconds of load; the kills are spread evenly over it (default %(default)s)")
    p.add_argument("--down", type=float, default=1.0,
                   help="seconds the server stays dead before the restart (default %(default)s)")
    p.add_argument("--mix", default=workload.DEFAULT_MIX,
                   help="command weights (default %(default)s)")
    p.add_argument("--think", type=float, default=0.05,
                   help="mean pause between one writer's commands, seconds (default %(default)s)")
    p.add_argument("--no-nats", action="store_true", help="run without the relay (skips the stream check)")
    p.add_argument("--stream-timeout", type=float, default=180,
                   help="seconds to wait for the stream to catch up (default %(default)s)")
    chaoslib.add_common_args(p, nats=True)
    return p.parse_args()


async def main(args) -> int:
    checks = chaoslib.Checks()
    run = chaoslib.Run("kill9", args)
    try:
        run.create_database()
        env = run.server_env(nats=not args.no_nats)
        server = run.server("server", env)
        # The CLI migrates the fresh database and makes the administrator.
        load = workload.Workload(server.url, args.writers, run.id[-10:], mix=args.mix, think=args.think)
        server.start()
        chaoslib.say(f"server pid {server.pid} at {server.url}")
        await load.setup(run)
        restarts: list[dict] = []

        async def faults():
            for k in range(args.kills):
                at = args.duration * (k + 1) / (args.kills + 1) + random.uniform(-1, 1)
                await asyncio.sleep(max(0.0, at - (time.monotonic() - t0)))
                acked_before = len(load.ledger.acked)
                chaoslib.say(f"kill -9 #{k + 1} (pid {server.pid}), {acked_before} acknowledged so far")
                killed = time.monotonic()
                server.kill9()
                await asyncio.sleep(args.down)
                await asyncio.to_thread(server.start)
                listening = time.monotonic()
                # First acknowledged command after the restart.
                first_ack = None
                while time.monotonic() - listening < 60:
                    if any(a["t"] > listening for a in load.ledger.acked[-200:]):
                        first_ack = time.monotonic()
                        break
                    await asyncio.sleep(0.05)
                restarts.append({"listening_s": listening - killed - args.down,
                                 "first_ack_s": (first_ack - killed) if first_ack else None})
                chaoslib.say(f"  restarted as pid {server.pid}: listening {listening - killed - args.down:.2f} s "
                             f"after start, first acknowledged command {(first_ack - killed) if first_ack else float('nan'):.2f} s "
                             f"after the kill")

        chaoslib.say(f"{args.writers} writers for {args.duration:.0f} s, {args.kills} kill -9(s)")
        t0 = time.monotonic()
        await load.run(args.duration, faults)
        chaoslib.say(f"load done in {load.elapsed:.1f} s")
        for line in load.summary():
            print("  " + line)
        acked = len(load.ledger.acked)
        print(f"  throughput: {acked / load.elapsed:.1f} acknowledged commands/s overall")

        print("\nchecks:")
        checks.check("server restarted after every kill", len(restarts) == args.kills and server.alive(),
                     "; ".join(f"#{n + 1}: listening after {r['listening_s']:.2f} s, first ack "
                               f"{r['first_ack_s']:.2f} s after the kill" if r["first_ack_s"] else
                               f"#{n + 1}: no acknowledged command within 60 s" for n, r in enumerate(restarts)))
        checks.check("ready after the load", await load.ready(120))
        await load.verify_acked(run, checks)
        await asyncio.to_thread(workload.run_verify, run, checks)
        if not args.no_nats:
            problems, figures = await chaoslib.check_stream(run, timeout=args.stream_timeout)
            checks.check("every event on NATS exactly once, in global order", not problems,
                         ", ".join(f"{k} {v}" for k, v in figures.items())
                         + (f"; {'; '.join(problems)}" if problems else ""))
        panics = [line for line in server.log_lines() if "panicked" in line]
        checks.check("no panic in the server log", not panics, panics[0][:300] if panics else "")
        await load.client.close()
    except Exception as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        run.close()
    return checks.finish("kill9")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
