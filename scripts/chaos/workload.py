"""The ILD write workload of the chaos scripts, and the check that every
acknowledged command is in the store.

Not a script of its own (kill9.py, postgres_outage.py and nats_outage.py
use it). Each writer is an asyncio task with its own account:

1. registers it (`POST /sign/register`), retrying until it exists;
2. logs in (`POST /sign/login`);
3. until told to stop, repeats a random command, weighted by `--mix`:
   * `profile`: `PUT /user/profile {"nickname": <unique>}`;
   * `join`: `PATCH /user/community/join/{id}` (one of the communities an
     administrator created at setup);
   * `register`: registers one more account (fresh email);
   * `login`: logs in again (a new session).

A command is *acknowledged* when a 2xx answer arrived. Everything else
(connection refused or reset, timeouts, 5xx, 429) is "unknown" and only
counted; the writer backs off (Retry-After when given) and goes on. Every
attempt is also kept in a timeline (start, end, op, status or error) so
the outage scripts can slice it by time.

`verify_acked()` checks afterwards, per acknowledged command:

* registration: a `UserRegistered` event on the user's stream, and the
  public profile answers 200;
* login: a `SessionStarted` event for the token's session (`sid`);
* profile update: a `ProfileUpdated` event of that user holding the
  nickname (or, if payloads do not show it, at least as many
  `ProfileUpdated` events as acknowledged updates), and the user's current
  nickname is the last acknowledged one or one sent after it;
* join: a `CommunityJoined` event of that user naming the community, and
  the community in the user's profile.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aiohttp

import chaoslib

PASSWORD = "chaos-correct-horse-1"
ADMIN_EMAIL = "chaos-admin@chaos.test"
ADMIN_PASSWORD = "chaos-admin-password-1"
DEFAULT_MIX = "profile=4,join=3,register=2,login=1"


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in ("profile", "join", "register", "login"):
            raise SystemExit(f"--mix: unknown command {name!r}")
        mix[name] = float(weight or 1)
    return mix


@dataclass
class Attempt:
    start: float
    end: float
    op: str
    status: int | None
    error: str | None
    retry_after: str | None = None


@dataclass
class Ledger:
    acked: list[dict] = field(default_factory=list)
    # profile updates sent per user, in order, with whether each was acked
    nicknames: dict[str, list[tuple[str, bool]]] = field(default_factory=lambda: defaultdict(list))
    timeline: list[Attempt] = field(default_factory=list)

    def outcomes(self, since: float | None = None, until: float | None = None) -> Counter:
        c = Counter()
        for a in self.timeline:
            if (since is None or a.start >= since) and (until is None or a.start < until):
                c[a.status if a.status is not None else a.error] += 1
        return c


class Client:
    """Thin aiohttp wrapper recording every attempt."""

    def __init__(self, base: str, ledger: Ledger, *, timeout: float = 35, limit: int = 0,
                 local_addr: tuple[str, int] | None = None):
        self.base = base
        self.ledger = ledger
        connector = aiohttp.TCPConnector(limit=limit, force_close=False, local_addr=local_addr,
                                         enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=timeout))

    async def close(self):
        await self.session.close()

    async def call(self, op: str, method: str, path: str, *, json=None, token: str | None = None,
                   headers: dict | None = None, record: bool = True):
        """(status or None, parsed body or text, headers, error name or None)."""
        h = dict(headers or {})
        if token:
            h["authorization"] = f"Bearer {token}"
        start = time.monotonic()
        status, body, resp_headers, error = None, None, {}, None
        try:
            async with self.session.request(method, self.base + path, json=json, headers=h) as r:
                status = r.status
                resp_headers = r.headers
                text = await r.text()
                try:
                    import json as _json
                    body = _json.loads(text) if text else None
                except ValueError:
                    body = text
        except asyncio.TimeoutError:
            error = "timeout"
        except aiohttp.ClientConnectorError:
            error = "refused"
        except aiohttp.ServerDisconnectedError:
            error = "disconnected"
        except aiohttp.ClientOSError as e:
            error = "reset" if "reset" in str(e).lower() else "oserror"
        except aiohttp.ClientError as e:
            error = type(e).__name__
        end = time.monotonic()
        if record:
            self.ledger.timeline.append(Attempt(start, end, op, status, error,
                                                resp_headers.get("retry-after") if resp_headers else None))
        return status, body, resp_headers, error


async def backoff(headers, attempt: int) -> None:
    retry_after = None
    if headers:
        try:
            retry_after = float(headers.get("retry-after", ""))
        except ValueError:
            retry_after = None
    delay = retry_after if retry_after is not None else min(0.1 * (2 ** attempt), 2.0)
    await asyncio.sleep(min(delay, 5.0) * random.uniform(0.8, 1.2))


class Workload:
    def __init__(self, base: str, writers: int, tag: str, *, mix: str = DEFAULT_MIX,
                 think: float = 0.05, communities: int = 5):
        self.base = base
        self.writers = writers
        self.tag = tag
        self.mix = parse_mix(mix)
        self.think = think
        self.n_communities = communities
        self.ledger = Ledger()
        self.client = Client(base, self.ledger, limit=writers + 20)
        self.communities: list[str] = []
        self.stop = asyncio.Event()
        self.tokens: dict[str, str] = {}  # user id -> a token of theirs
        self.counter = 0
        self.stale_claims: set[str] = set()  # addresses whose login said 401 after a settled registration

    async def setup(self, run: "chaoslib.Run") -> None:
        """An administrator (CLI) and the communities (API)."""
        run.cli("admin", "create", "--email", ADMIN_EMAIL, env={"EVENTAUTH_ADMIN_PASSWORD": ADMIN_PASSWORD})
        for attempt in range(20):
            status, body, headers, _ = await self.client.call(
                "setup", "POST", "/sign/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            if status == 200:
                break
            await backoff(headers, attempt)
        else:
            raise RuntimeError(f"admin login failed: {status} {body}")
        admin = body["token"]
        for n in range(self.n_communities):
            status, body, _, _ = await self.client.call(
                "setup", "POST", "/admin/communities", token=admin,
                json={"name": f"Chaos {n}", "description": f"community {n} of {self.tag}"})
            if status != 201:
                raise RuntimeError(f"community not created: {status} {body}")
            self.communities.append(body["id"])

    def _email(self, writer: int) -> str:
        self.counter += 1
        return f"w{writer}-{self.counter}-{self.tag}@chaos.test".lower()

    async def _register(self, writer: int, email: str) -> tuple[str | None, bool]:
        """One attempt. (user id or None, whether the outcome is settled)."""
        status, body, headers, _ = await self.client.call(
            "register", "POST", "/sign/register",
            json={"email": email, "password": PASSWORD, "firstName": f"W{writer}", "lastName": "Chaos"})
        if status == 201:
            self.ledger.acked.append({"op": "register", "user": body["id"], "email": email,
                                      "t": time.monotonic()})
            return body["id"], True
        if status == 400:
            # The payload is valid, so the address is taken: an earlier,
            # unacknowledged attempt went through (or left a claim behind).
            return None, True
        await backoff(headers, 1)
        return None, False

    async def _login(self, email: str) -> tuple[str | None, str | None, int | None]:
        status, body, headers, _ = await self.client.call(
            "login", "POST", "/sign/login", json={"email": email, "password": PASSWORD})
        if status == 200:
            token = body["token"]
            user = body["user"]["id"]
            sid = chaoslib.jwt_claims(token).get("sid")
            self.ledger.acked.append({"op": "login", "user": user, "session": sid, "t": time.monotonic()})
            self.tokens[user] = token
            return token, user, status
        await backoff(headers, 2)
        return None, None, status

    async def writer(self, i: int) -> None:
        await asyncio.sleep(random.uniform(0, 1.0))  # spread the start
        email = self._email(i)
        token = user = None
        register = True
        while not self.stop.is_set() and token is None:
            if register:
                _, settled = await self._register(i, email)
                if not settled:
                    continue
                register = False
            token, user, status = await self._login(email)
            if status == 401:
                # The address is claimed but no user was written (a crash
                # between the two): registering again takes the claim over
                # once it is stale (EVENTAUTH_CLAIM_STALE_AFTER).
                self.stale_claims.add(email)
                register = True
                await asyncio.sleep(1)
        ops, weights = zip(*self.mix.items())
        seq = 0
        failures = 0
        while not self.stop.is_set():
            op = random.choices(ops, weights)[0]
            seq += 1
            status = headers = None
            if op == "profile":
                nick = f"n{i}x{seq}{self.tag[-4:]}"
                status, body, headers, _ = await self.client.call(
                    "profile", "PUT", "/user/profile", token=token, json={"nickname": nick})
                acked = status is not None and 200 <= status < 300
                self.ledger.nicknames[user].append((nick, acked))
                if acked:
                    self.ledger.acked.append({"op": "profile", "user": user, "nickname": nick,
                                              "t": time.monotonic()})
            elif op == "join":
                community = random.choice(self.communities)
                status, body, headers, _ = await self.client.call(
                    "join", "PATCH", f"/user/community/join/{community}", token=token)
                if status is not None and 200 <= status < 300:
                    self.ledger.acked.append({"op": "join", "user": user, "community": community,
                                              "t": time.monotonic()})
            elif op == "register":
                _, settled = await self._register(i, self._email(i))
                status = 201 if settled else None
            elif op == "login":
                new, _, status = await self._login(email)
                token = new or token
            if status == 401 and op in ("profile", "join"):
                new, _, _ = await self._login(email)
                token = new or token
            if status is None or status >= 400:
                failures += 1
                if op in ("profile", "join"):
                    await backoff(headers, min(failures, 4))
            else:
                failures = 0
            if self.think:
                await asyncio.sleep(random.uniform(0, 2 * self.think))

    async def run(self, duration: float, during=None) -> None:
        """Runs the writers for `duration` seconds (or until `self.stop` is
        set) while `during()` (a coroutine function: the fault schedule)
        runs; waits for `during()` to finish either way."""
        tasks = [asyncio.create_task(self.writer(i)) for i in range(self.writers)]
        started = time.monotonic()
        faults = asyncio.create_task(during()) if during is not None else None
        stopped = asyncio.create_task(self.stop.wait())
        try:
            waiting = {stopped} | ({faults} if faults else set())
            deadline = started + duration
            while waiting and not self.stop.is_set() and time.monotonic() < deadline:
                done, waiting = await asyncio.wait(waiting, timeout=deadline - time.monotonic(),
                                                   return_when=asyncio.FIRST_COMPLETED)
                if faults in done and faults.exception() is not None:
                    raise faults.exception()
        finally:
            self.stop.set()
            if faults is not None:
                try:
                    await faults
                finally:
                    # In-flight requests finish (or time out) on their own.
                    await asyncio.wait(tasks, timeout=60)
            else:
                await asyncio.wait(tasks, timeout=60)
            for t in tasks:
                t.cancel()
            stopped.cancel()
        self.elapsed = time.monotonic() - started

    def summary(self) -> list[str]:
        by_op = Counter(a["op"] for a in self.ledger.acked)
        outcomes = Counter()
        for a in self.ledger.timeline:
            outcomes[(a.op, a.status if a.status is not None else a.error)] += 1
        lines = [f"acknowledged: {sum(by_op.values())} ({', '.join(f'{k} {v}' for k, v in sorted(by_op.items()))})"]
        if self.stale_claims:
            lines.append(f"addresses claimed without a user (401 after 'taken'; registered again later): "
                         f"{len(self.stale_claims)}")
        per_op = defaultdict(list)
        for (op, outcome), n in sorted(outcomes.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            per_op[op].append(f"{outcome}×{n}")
        for op, parts in per_op.items():
            lines.append(f"  {op}: {' '.join(parts)}")
        return lines

    async def ready(self, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, _, _ = await self.client.call("ready", "GET", "/ready", record=False)
            if status == 200:
                return True
            await asyncio.sleep(0.5)
        return False

    async def verify_acked(self, run: "chaoslib.Run", checks: "chaoslib.Checks") -> None:
        acked = self.ledger.acked
        db = run.db_url
        registered = {r[0] for r in chaoslib.query(
            db, "SELECT aggregate_id FROM events WHERE aggregate_type = 'user' AND event_type = 'UserRegistered'")}
        started = {r[0] for r in chaoslib.query(
            db, "SELECT aggregate_id FROM events WHERE event_type = 'SessionStarted'")}
        profile_payloads = defaultdict(list)
        for agg, payload in chaoslib.query(
                db, "SELECT aggregate_id, payload::text FROM events WHERE event_type = 'ProfileUpdated'"):
            profile_payloads[agg].append(payload)
        joins = defaultdict(list)
        for agg, payload in chaoslib.query(
                db, "SELECT aggregate_id, payload::text FROM events WHERE event_type = 'CommunityJoined'"):
            joins[agg].append(payload)

        regs = [a for a in acked if a["op"] == "register"]
        lost = [a for a in regs if a["user"] not in registered]
        checks.check("every acknowledged registration has its UserRegistered event", not lost,
                     f"{len(regs)} acknowledged, {len(lost)} missing" + (f", e.g. {lost[:2]}" if lost else ""))

        logins = [a for a in acked if a["op"] == "login"]
        lost = [a for a in logins if a["session"] not in started]
        checks.check("every acknowledged login has its SessionStarted event", not lost,
                     f"{len(logins)} acknowledged, {len(lost)} missing" + (f", e.g. {lost[:2]}" if lost else ""))

        updates = [a for a in acked if a["op"] == "profile"]
        visible = any(a["nickname"] in p for a in updates[:50] for p in profile_payloads.get(a["user"], []))
        if visible or not updates:
            lost = [a for a in updates
                    if not any(a["nickname"] in p for p in profile_payloads.get(a["user"], []))]
            how = "nickname found in the user's ProfileUpdated events"
        else:
            per_user = Counter(a["user"] for a in updates)
            lost = [{"user": u, "acked": n, "events": len(profile_payloads.get(u, []))}
                    for u, n in per_user.items() if len(profile_payloads.get(u, [])) < n]
            how = "payloads hide the values: counted ProfileUpdated events per user"
        checks.check("every acknowledged profile update has its ProfileUpdated event", not lost,
                     f"{len(updates)} acknowledged, {len(lost)} missing ({how})"
                     + (f", e.g. {lost[:2]}" if lost else ""))

        joined = [a for a in acked if a["op"] == "join"]
        lost = [a for a in joined if not any(a["community"] in p for p in joins.get(a["user"], []))]
        checks.check("every acknowledged community join has its CommunityJoined event", not lost,
                     f"{len(joined)} acknowledged, {len(lost)} missing" + (f", e.g. {lost[:2]}" if lost else ""))

        # Through the API: the read models agree.
        sem = asyncio.Semaphore(16)
        api_problems: list[str] = []

        async def public(user):
            async with sem:
                status, body, _, err = await self.client.call("verify", "GET", f"/user/profile/{user}",
                                                              record=False)
                if status != 200:
                    api_problems.append(f"GET /user/profile/{user}: {status or err}")

        async def own(user, token):
            async with sem:
                status, body, _, err = await self.client.call("verify", "GET", "/user/profile", token=token,
                                                              record=False)
            if status != 200:
                api_problems.append(f"GET /user/profile as {user}: {status or err}")
                return
            sent = self.ledger.nicknames.get(user, [])
            last_acked = max((n for n, (_, ok) in enumerate(sent) if ok), default=None)
            if last_acked is not None:
                allowed = {nick for nick, _ in sent[last_acked:]}
                if body.get("nickname") not in allowed:
                    api_problems.append(f"user {user}: nickname {body.get('nickname')!r}, expected the last "
                                        f"acknowledged {sent[last_acked][0]!r} or a later attempt")
            have = {c["id"] for c in body.get("communities") or []}
            want = {a["community"] for a in joined if a["user"] == user}
            if want - have:
                api_problems.append(f"user {user}: communities {sorted(want - have)} acknowledged but not shown")

        await asyncio.gather(*(public(a["user"]) for a in regs),
                             *(own(u, t) for u, t in self.tokens.items()))
        checks.check("the API shows every acknowledged change (profiles, nicknames, communities)",
                     not api_problems, f"{len(regs)} public profiles and {len(self.tokens)} own profiles read"
                     + (f"; {len(api_problems)} problem(s), e.g. {api_problems[:3]}" if api_problems else ""))


def run_verify(run: "chaoslib.Run", checks: "chaoslib.Checks") -> None:
    """`eventauth verify`: the read models equal a rebuild from the log."""
    started = time.monotonic()
    result = run.cli("verify", check=False, timeout=900)
    took = time.monotonic() - started
    tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
    checks.check("`eventauth verify` is clean", result.returncode == 0,
                 f"exit {result.returncode} in {took:.1f} s" + ("" if result.returncode == 0 else f": {tail}"))
