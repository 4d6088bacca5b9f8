#!/usr/bin/env python3
"""Online password guessing (issue 19, "the worst day").

Two phases, each on a server of its own (same fresh PostgreSQL database; a
restart empties the in-memory throttle):

1. Guessing: N (default 1,000) wrong passwords against one account, from
   source address 127.0.0.2, with the default throttling policy
   (docs/throttling.md). Expected: 429 with Retry-After after a few
   failures; at most EVENTAUTH_LOGIN_MAX_FAILURES (100) attempts actually
   evaluated (= answered 401: a password was checked), and as many
   `LoginFailed` events; then the right password also gets 429 while the
   wait lasts.
2. Timing: an unknown account vs a known account with a wrong password,
   >= 200 samples each, interleaved in random order, one at a time, from
   127.0.0.3, on a server whose throttle is opened wide
   (EVENTAUTH_LOGIN_FREE_FAILURES, _MAX_FAILURES_PER_IP high, a 1 s
   EVENTAUTH_LOGIN_WINDOW, several identifiers of each kind so none
   reaches the per-identifier lock of at most 100). Pass when the ratio of
   the medians is within 10% (--tolerance).

Deps: Python 3.9+, aiohttp, psycopg2-binary (nats-py unused); the script
creates /tmp/chaos-venv and installs them when missing. Needs PostgreSQL
(trust auth) on 127.0.0.1.

    python3 scripts/chaos/brute_force.py
    python3 scripts/chaos/brute_force.py --attempts 300 --samples 200
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaoslib  # noqa: E402

chaoslib.bootstrap()

import asyncio  # noqa: E402

import workload  # noqa: E402

PASSWORD = "brute-force-right-password-1"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--attempts", type=int, default=1000, help="wrong passwords in phase 1 (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=10,
                   help="guesses in flight at once in phase 1 (default %(default)s)")
    p.add_argument("--max-evaluated", type=int, default=100,
                   help="phase 1 fails when more attempts than this were evaluated (default %(default)s, "
                        "the policy's EVENTAUTH_LOGIN_MAX_FAILURES)")
    p.add_argument("--first-429-within", type=int, default=20,
                   help="phase 1 fails when the first 429 comes later than this attempt (default %(default)s)")
    p.add_argument("--samples", type=int, default=300, help="timing samples per kind in phase 2 (default %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="discarded samples per kind first (default %(default)s)")
    p.add_argument("--identifiers", type=int, default=8,
                   help="accounts (and unknown emails) the timing phase rotates over (default %(default)s)")
    p.add_argument("--tolerance", type=float, default=0.10,
                   help="allowed relative difference of the medians (default %(default)s)")
    p.add_argument("--phase", choices=["both", "guess", "timing"], default="both")
    p.add_argument("--guess-source", default="127.0.0.2", help="source address of phase 1 (default %(default)s)")
    p.add_argument("--timing-source", default="127.0.0.3", help="source address of phase 2 (default %(default)s)")
    chaoslib.add_common_args(p)
    return p.parse_args()


async def register(client: workload.Client, email: str) -> None:
    for attempt in range(20):
        status, body, headers, _ = await client.call(
            "register", "POST", "/sign/register",
            json={"email": email, "password": PASSWORD, "firstName": "Brute", "lastName": "Force"})
        if status == 201:
            return
        await workload.backoff(headers, attempt)
    raise RuntimeError(f"could not register {email}: {status} {body}")


async def guessing(args, run: chaoslib.Run, checks: chaoslib.Checks) -> None:
    print("\nphase 1: guessing")
    server = run.server("guess", run.server_env())
    server.start()
    ledger = workload.Ledger()
    setup = workload.Client(server.url, ledger)
    email = "victim@chaos.test"
    await register(setup, email)
    await setup.close()

    attacker = workload.Client(server.url, ledger, local_addr=(args.guess_source, 0),
                               limit=args.concurrency)
    results: list[tuple[int, int | None, str | None, float]] = []  # (n, status, retry-after, latency)
    counter = iter(range(args.attempts))
    started = time.monotonic()

    async def guesser():
        for n in counter:
            t = time.monotonic()
            status, body, headers, error = await attacker.call(
                "guess", "POST", "/sign/login", json={"email": email, "password": f"wrong-guess-{n:05d}"})
            results.append((n, status if status is not None else error,
                            headers.get("retry-after") if headers else None, time.monotonic() - t))

    await asyncio.gather(*(guesser() for _ in range(args.concurrency)))
    took = time.monotonic() - started
    results.sort()
    statuses = [r[1] for r in results]
    evaluated = sum(1 for s in statuses if s == 401)
    throttled = [r for r in results if r[1] == 429]
    other = [r for r in results if r[1] not in (401, 429)]
    first_429 = next((r[0] for r in results if r[1] == 429), None)
    retry_afters = [float(r[2]) for r in throttled if r[2] not in (None, "")]
    missing_retry_after = sum(1 for r in throttled if r[2] in (None, ""))
    print(f"  {len(results)} guesses in {took:.1f} s: {evaluated} evaluated (401), {len(throttled)} refused (429), "
          f"{len(other)} other {sorted(set(map(str, (r[1] for r in other))))}")
    if retry_afters:
        print(f"  Retry-After seen: min {min(retry_afters):.0f} s, max {max(retry_afters):.0f} s")
    lat401 = [r[3] for r in results if r[1] == 401]
    lat429 = [r[3] for r in results if r[1] == 429]
    print(f"  latency 401: {chaoslib.latency_line(lat401)}")
    print(f"  latency 429: {chaoslib.latency_line(lat429)}")

    # Let the audit events commit, then count them.
    await asyncio.sleep(1.0)
    failed_events = chaoslib.query(run.db_url, "SELECT count(*) FROM events WHERE event_type = 'LoginFailed'")[0][0]
    locks = chaoslib.query(run.db_url,
                           "SELECT count(*) FROM events WHERE event_type IN ('LoginLockedOut', 'UserLockedOut')")[0][0]
    print(f"  events: {failed_events} LoginFailed, {locks} lock event(s)")

    right = workload.Client(server.url, ledger, local_addr=(args.guess_source, 0))
    status, _, headers, error = await right.call("right", "POST", "/sign/login",
                                                 json={"email": email, "password": PASSWORD})
    await right.close()
    await attacker.close()

    checks.check("guesses get 429 after a few failures", first_429 is not None and first_429 < args.first_429_within,
                 f"first 429 at attempt #{first_429}")
    checks.check("every 429 carries Retry-After", bool(throttled) and missing_retry_after == 0,
                 f"{missing_retry_after} of {len(throttled)} without it")
    checks.check(f"at most {args.max_evaluated} of {args.attempts} guesses evaluated",
                 evaluated <= args.max_evaluated, f"{evaluated} evaluated")
    checks.check("no answer but 401 or 429 (no 5xx, no errors)", not other,
                 f"{len(other)}: {[r[1] for r in other[:5]]}")
    checks.check("every evaluated guess is audited once (LoginFailed events = 401s)",
                 failed_events == evaluated, f"{failed_events} events, {evaluated} evaluated")
    checks.check("the right password is refused (429) while the wait lasts",
                 status == 429, f"got {status or error}")
    server.terminate()


async def timing(args, run: chaoslib.Run, checks: chaoslib.Checks) -> None:
    print("\nphase 2: timing of unknown vs known accounts")
    wide_open = {
        "EVENTAUTH_LOGIN_FREE_FAILURES": "1000000",
        "EVENTAUTH_LOGIN_MAX_FAILURES": "100",
        "EVENTAUTH_LOGIN_WINDOW": "1",
        "EVENTAUTH_LOGIN_MAX_FAILURES_PER_IP": "1000000000",
        "EVENTAUTH_LOGIN_IP_WINDOW": "1",
    }
    server = run.server("timing", run.server_env(extra=wide_open))
    server.start()
    ledger = workload.Ledger()
    setup = workload.Client(server.url, ledger)
    known = [f"known{k}@chaos.test" for k in range(args.identifiers)]
    unknown = [f"nobody{k}-{random.randrange(1 << 30)}@chaos.test" for k in range(args.identifiers)]
    for email in known:
        await register(setup, email)
    await setup.close()
    client = workload.Client(server.url, ledger, local_addr=(args.timing_source, 0), limit=1)

    samples = {"known": [], "unknown": []}
    statuses = {"known": [], "unknown": []}
    total = args.samples + args.warmup
    started = time.monotonic()
    for n in range(total):
        pair = [("known", known[n % len(known)]), ("unknown", unknown[n % len(unknown)])]
        random.shuffle(pair)
        for kind, email in pair:
            t = time.perf_counter()
            status, _, _, error = await client.call(
                kind, "POST", "/sign/login", json={"email": email, "password": f"wrong-{n:05d}"})
            elapsed = time.perf_counter() - t
            if n >= args.warmup:
                samples[kind].append(elapsed)
                statuses[kind].append(status or error)
    await client.close()
    took = time.monotonic() - started
    k, u = samples["known"], samples["unknown"]
    mk, mu = statistics.median(k), statistics.median(u)
    ratio = mu / mk
    print(f"  {len(k)} + {len(u)} samples in {took:.1f} s")
    print(f"  known, wrong password: {chaoslib.latency_line(k)} mean={chaoslib.ms(statistics.mean(k))}")
    print(f"  unknown account:       {chaoslib.latency_line(u)} mean={chaoslib.ms(statistics.mean(u))}")
    print(f"  median unknown / median known = {ratio:.3f}")
    bad = {kind: [s for s in st if s != 401] for kind, st in statuses.items()}
    checks.check("every timing sample was a checked failure (401)", not bad["known"] and not bad["unknown"],
                 f"known: {bad['known'][:5]}, unknown: {bad['unknown'][:5]}")
    checks.check(f"medians within {args.tolerance:.0%} (unknown vs known)", abs(ratio - 1) <= args.tolerance,
                 f"ratio {ratio:.3f} ({chaoslib.ms(mu)} vs {chaoslib.ms(mk)})")
    server.terminate()


async def main(args) -> int:
    checks = chaoslib.Checks()
    run = chaoslib.Run("brute", args)
    try:
        run.create_database()
        if args.phase in ("both", "guess"):
            await guessing(args, run, checks)
        if args.phase in ("both", "timing"):
            await timing(args, run, checks)
    except Exception as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        run.close()
    return checks.finish("brute_force")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
