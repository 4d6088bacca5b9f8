#!/usr/bin/env python3
"""Secrets in logs, responses and NATS messages (issue 19, "the worst day").

One full run at RUST_LOG=debug with the NATS relay on (fresh database,
stream and subject prefix), through every surface:

* Open Archiver: setup (first: it is open only while no user exists),
  login, profile, status, a wrong password;
* ILD: register, login, check, refresh (X-Refresh-Token header and
  cookie), profile, change password, a wrong password, email verification
  and password reset with the tokens from the mail outbox, login, logout;
* Backstack: an account (CLI) with the ILD user as a member, login,
  session, logout;
* Doubtfire: sign in, extend, auth method, sign out, a wrong password;
* Kolibri: a facility and a facility user (CLI), login, keep-alive,
  logout, a wrong password.

The server runs with credentials it must never show: DATABASE_URL with a
password (a throw-away PostgreSQL role; trust auth ignores it), NATS_URL
with user:password (a NATS server without auth ignores them), an SMTP URL
with user:password pointing at a closed port (sending fails, so the mail
stays in the outbox where this script reads the tokens), the Open
Archiver JWT secret, the server secret and an introspection client secret.

Captured: every log line of the server (and the output of the CLI calls,
also at debug), the mail outbox's delivery errors,
every response (status, headers, body) and every NATS message (subject,
headers, data). Searched for: every plaintext password used (right and
wrong), every token, refresh token, mail token and cookie value issued
(whole, and the part after the last '.': a JWT's signature, a refresh
token's secret), every password/token hash in the events table (and an
argon2 hash's digest), anything that looks like "$argon2", and the
credentials above. Tokens may appear only in the response that issued
them or to a request that carried them; nothing else may appear anywhere.
Exits 1 on any hit, printing where.

Deps: Python 3.9+, aiohttp (unused here), nats-py, psycopg2-binary; the
script creates /tmp/chaos-venv and installs them when missing. Needs
PostgreSQL (trust auth) and NATS JetStream on 127.0.0.1.

    python3 scripts/chaos/secret_scan.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets as _secrets
import sys
import time
from http.cookies import SimpleCookie

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaoslib  # noqa: E402

chaoslib.bootstrap()

import asyncio  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--no-smtp", action="store_true", help="no SMTP URL (mail stays in the outbox anyway)")
    p.add_argument("--no-db-password", action="store_true", help="connect as postgres without a password")
    p.add_argument("--no-nats-credentials", action="store_true", help="NATS_URL without user:password")
    p.add_argument("--show-responses", action="store_true", help="print every exchange")
    chaoslib.add_common_args(p, nats=True)
    p.set_defaults(rust_log="debug")
    return p.parse_args()


DEBUG = {"RUST_LOG": "debug"}  # for the CLI calls too: their output is scanned


def rnd(prefix: str) -> str:
    return f"{prefix}-{_secrets.token_hex(6)}"


class Exchange:
    def __init__(self, n, step, method, path, request_text, status, headers, body_text):
        self.n, self.step, self.method, self.path = n, step, method, path
        self.request_text = request_text
        self.status, self.headers, self.body_text = status, headers, body_text
        self.text = f"{status}\n" + "".join(f"{k}: {v}\n" for k, v in headers) + "\n" + body_text

    def json(self):
        try:
            return json.loads(self.body_text)
        except ValueError:
            return None

    def cookies(self) -> dict[str, str]:
        out = {}
        for k, v in self.headers:
            if k.lower() == "set-cookie":
                c = SimpleCookie()
                c.load(v)
                for name, morsel in c.items():
                    out[name] = morsel.value
        return out


class Http:
    def __init__(self, base: str, show: bool):
        self.host, self.port = base.removeprefix("http://").split(":")
        self.exchanges: list[Exchange] = []
        self.issued: dict[str, int] = {}  # secret value -> exchange that issued it
        self.show = show
        self.failures: list[str] = []

    def call(self, step: str, method: str, path: str, body=None, headers=None, expect=None) -> Exchange:
        h = {"user-agent": "chaos-secret-scan", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["content-type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        conn.close()
        request_text = f"{method} {path}\n" + "".join(f"{k}: {v}\n" for k, v in h.items()) + \
            (data.decode() if data else "")
        ex = Exchange(len(self.exchanges), step, method, path, request_text, r.status, r.getheaders(), text)
        self.exchanges.append(ex)
        ok = expect is None or r.status in (expect if isinstance(expect, tuple) else (expect,))
        if self.show or not ok:
            print(f"  [{'ok' if ok else 'UNEXPECTED'}] {step}: {method} {path} -> {r.status} {text[:200]}")
        if not ok:
            self.failures.append(f"{step}: {method} {path} -> {r.status} (expected {expect})")
        return ex

    def issue(self, ex: Exchange, *values) -> None:
        for v in values:
            if v:
                self.issued.setdefault(v, ex.n)


def outbox_token(run: chaoslib.Run, purpose: str, email: str, after: int, timeout: float = 20) -> str | None:
    """The token of the newest mail of `purpose` to `email` (waits for it)."""
    pattern = re.compile(r"https://chaos\.invalid/(?:verify\?token=|reset/)([A-Za-z0-9._~%-]+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = chaoslib.query(run.db_url, "SELECT body FROM mail_outbox WHERE purpose = %s AND recipient = %s "
                                          "AND body IS NOT NULL ORDER BY created_at DESC", (purpose, email))
        if len(rows) > after:
            m = pattern.search(rows[0][0])
            if m:
                return m.group(1)
        time.sleep(0.3)
    return None


def hashes_in_events(run: chaoslib.Run) -> set[str]:
    """Every string under a key naming a hash, anywhere in the payloads."""
    found = set()

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and "hash" in key.lower() and len(value) >= 16:
            found.add(value)
            if value.startswith("$"):
                digest = value.rsplit("$", 1)[-1]
                if len(digest) >= 16:
                    found.add(digest)

    for (payload,) in chaoslib.query(run.db_url, "SELECT payload::text FROM events"):
        walk(json.loads(payload))
    return found


def fragments(token: str) -> list[str]:
    out = [token]
    last = token.rsplit(".", 1)[-1]
    if last != token and len(last) >= 16:
        out.append(last)
    return out


def flows(run: chaoslib.Run, web: Http, secrets: dict[str, set[str]]) -> None:
    pw = {name: rnd(f"Pw{name}") for name in ("ild1", "ild2", "ild3", "wrong", "oa", "kolibri", "dfwrong", "kwrong")}
    for name, value in pw.items():
        secrets.setdefault("password", set()).add(value)
    email = "ada@chaos.test"

    # --- Open Archiver (first: its setup is only open while no user exists)
    oa_email = "root@chaos.test"
    ex = web.call("openarchiver setup", "POST", "/v1/auth/setup",
                  {"email": oa_email, "password": pw["oa"], "first_name": "Root", "last_name": "Admin"}, expect=201)
    b = ex.json() or {}
    web.issue(ex, b.get("accessToken"), *ex.cookies().values())
    ex = web.call("openarchiver login", "POST", "/v1/auth/login", {"email": oa_email, "password": pw["oa"]},
                  expect=200)
    b = ex.json() or {}
    oa_token = b.get("accessToken")
    web.issue(ex, oa_token, *ex.cookies().values())
    web.call("openarchiver profile", "GET", "/v1/users/profile", headers={"authorization": f"Bearer {oa_token}"},
             expect=200)
    web.call("openarchiver status", "GET", "/v1/auth/status", expect=200)
    web.call("openarchiver wrong password", "POST", "/v1/auth/login", {"email": oa_email, "password": pw["wrong"]},
             expect=401)

    # --- ILD
    web.call("ild register", "POST", "/sign/register",
             {"email": email, "password": pw["ild1"], "firstName": "Ada", "lastName": "Lovelace"}, expect=201)
    ex = web.call("ild login", "POST", "/sign/login", {"email": email, "password": pw["ild1"]}, expect=200)
    b = ex.json() or {}
    t1, r1 = b.get("token"), b.get("refreshToken")
    web.issue(ex, t1, r1, *ex.cookies().values())
    web.call("ild check", "GET", "/sign/check", headers={"authorization": f"Bearer {t1}"}, expect=200)
    ex = web.call("ild refresh (header)", "GET", "/sign/refresh", headers={"x-refresh-token": r1}, expect=200)
    b = ex.json() or {}
    t2, r2 = b.get("token"), b.get("refreshToken")
    web.issue(ex, t2, r2, *ex.cookies().values())
    ex = web.call("ild refresh (cookie)", "GET", "/sign/refresh", headers={"cookie": f"refreshToken={r2}"},
                  expect=200)
    b = ex.json() or {}
    t3, r3 = b.get("token"), b.get("refreshToken")
    web.issue(ex, t3, r3, *ex.cookies().values())
    web.call("ild profile", "GET", "/user/profile", headers={"authorization": f"Bearer {t3}"}, expect=200)
    web.call("ild change password", "PUT", "/user/changepassword",
             {"currentPassword": pw["ild1"], "newPassword": pw["ild2"]},
             headers={"authorization": f"Bearer {t3}"}, expect=200)
    web.call("ild wrong password", "POST", "/sign/login", {"email": email, "password": pw["wrong"]}, expect=401)
    token = outbox_token(run, "verify_email", email, 0)
    if token:
        secrets.setdefault("mail token", set()).add(token)
        web.call("ild verify email", "POST", "/sign/verify", {"token": token}, expect=200)
    else:
        web.failures.append("no verification mail in the outbox")
    web.call("ild reset request", "POST", "/sign/reset", {"email": email}, expect=200)
    token = outbox_token(run, "reset_password", email, 0)
    if token:
        secrets.setdefault("mail token", set()).add(token)
        web.call("ild reset", "POST", f"/sign/reset/{token}", {"password": pw["ild3"]}, expect=200)
    else:
        web.failures.append("no reset mail in the outbox")
    ex = web.call("ild login after reset", "POST", "/sign/login", {"email": email, "password": pw["ild3"]},
                  expect=200)
    b = ex.json() or {}
    t4 = b.get("token")
    web.issue(ex, t4, b.get("refreshToken"), *ex.cookies().values())
    web.call("ild logout", "GET", "/sign/logout", headers={"authorization": f"Bearer {t4}"}, expect=200)
    web.call("ild check after logout", "GET", "/sign/check", headers={"authorization": f"Bearer {t4}"}, expect=401)

    # --- Backstack
    out = run.cli("account", "create", "--title", "Chaos Account", env=DEBUG)
    account = chaoslib.printed_id(out.stdout)
    cli_outputs.append(("account create", out.stdout + out.stderr))
    out = run.cli("account", "add-member", "--account", account, "--email", email, "--role", "admin", env=DEBUG)
    cli_outputs.append(("account add-member", out.stdout + out.stderr))
    ex = web.call("backstack login", "POST", "/v1/auth/login", {"username": email, "password": pw["ild3"]},
                  expect=200)
    cookies = ex.cookies()
    web.issue(ex, (ex.json() or {}).get("accessToken"), *cookies.values())
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    web.call("backstack session", "GET", "/v1/auth/session", headers={"cookie": jar}, expect=200)
    web.call("backstack logout", "GET", "/v1/auth/logout", headers={"cookie": jar}, expect=200)

    # --- Doubtfire
    ex = web.call("doubtfire sign in", "POST", "/api/auth",
                  {"username": email, "password": pw["ild3"], "remember": True}, expect=201)
    df = (ex.json() or {}).get("auth_token")
    web.issue(ex, df, *ex.cookies().values())
    creds = {"auth-token": df or "", "username": email}
    web.call("doubtfire extend", "PUT", "/api/auth", headers=creds, expect=200)
    web.call("doubtfire method", "GET", "/api/auth/method", expect=200)
    web.call("doubtfire sign out", "DELETE", "/api/auth", headers=creds, expect=(200, 204))
    web.call("doubtfire wrong password", "POST", "/api/auth", {"username": email, "password": pw["dfwrong"]},
             expect=401)

    # --- Kolibri
    out = run.cli("collection", "create", "--kind", "facility", "--name", "Chaos School", env=DEBUG)
    facility = chaoslib.printed_id(out.stdout)
    cli_outputs.append(("collection create", out.stdout + out.stderr))
    out = run.cli("facility-user", "create", "--facility", facility, "--username", "kuser",
                  "--full-name", "Kay User", env={**DEBUG, "EVENTAUTH_FACILITY_USER_PASSWORD": pw["kolibri"]})
    cli_outputs.append(("facility-user create", out.stdout + out.stderr))
    fac = facility.replace("-", "")
    ex = web.call("kolibri login", "POST", "/api/auth/session/",
                  {"username": "kuser", "password": pw["kolibri"], "facility": fac}, expect=200)
    cookies = ex.cookies()
    web.issue(ex, *cookies.values())
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    web.call("kolibri keep-alive", "PUT", "/api/auth/session/current/",
             headers={"cookie": jar, "x-csrftoken": cookies.get("kolibri_csrftoken", ""),
                      "referer": f"http://{web.host}:{web.port}/"}, expect=200)
    web.call("kolibri logout", "DELETE", "/api/auth/session/current/",
             headers={"cookie": jar, "x-csrftoken": cookies.get("kolibri_csrftoken", ""),
                      "referer": f"http://{web.host}:{web.port}/"}, expect=(200, 204))
    web.call("kolibri wrong password", "POST", "/api/auth/session/",
             {"username": "kuser", "password": pw["kwrong"], "facility": fac}, expect=(401, 400))

    for value in web.issued:
        secrets.setdefault("token/cookie", set()).update(fragments(value))


cli_outputs: list[tuple[str, str]] = []


def scan(where: str, text: str, secrets: dict[str, set[str]], allowed=lambda kind, value: False) -> list[str]:
    hits = []
    for kind, values in secrets.items():
        for value in values:
            if value and value in text and not allowed(kind, value):
                i = text.index(value)
                excerpt = text[max(0, i - 60):i].replace("\n", " ") + "<<" + kind.upper() + ">>" + \
                    text[i + len(value):i + len(value) + 40].replace("\n", " ")
                hits.append(f"{kind} in {where}: …{excerpt}…")
    if "$argon2" in text and not allowed("argon2", "$argon2"):
        i = text.index("$argon2")
        hits.append(f"'$argon2' in {where}: …{text[max(0, i - 60):i + 30]}…")
    return hits


async def main(args) -> int:
    checks = chaoslib.Checks()
    run = chaoslib.Run("secrets", args)
    role = None
    creds: dict[str, str] = {}
    try:
        run.create_database()
        extra = {
            "EVENTAUTH_VERIFY_LINK": "https://chaos.invalid/verify?token={token}",
            "EVENTAUTH_RESET_LINK": "https://chaos.invalid/reset/{token}",
            "EVENTAUTH_OPENARCHIVER_JWT_SECRET": rnd("OaJwtSecret") + _secrets.token_hex(16),
            "EVENTAUTH_SECRET": rnd("ServerSecret") + _secrets.token_hex(16),
            "EVENTAUTH_INTROSPECTION_CLIENTS": "chaosclient:" + rnd("IntrospectionSecret"),
        }
        creds["openarchiver jwt secret"] = extra["EVENTAUTH_OPENARCHIVER_JWT_SECRET"]
        creds["server secret"] = extra["EVENTAUTH_SECRET"]
        creds["introspection secret"] = extra["EVENTAUTH_INTROSPECTION_CLIENTS"].split(":", 1)[1]
        if not args.no_db_password:
            role = f"chaos_{_secrets.token_hex(4)}"
            db_pw = rnd("DbPassword")
            chaoslib.admin_query(run.pg_base, f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD %s", (db_pw,))
            host = run.pg_base.split("@", 1)[-1]
            run.db_url = f"postgres://{role}:{db_pw}@{host}/{run.db_name}"
            creds["database password"] = db_pw
        if not args.no_nats_credentials:
            nats_pw = rnd("NatsPassword")
            extra["NATS_URL"] = run.nats_url.replace("nats://", f"nats://chaosnats:{nats_pw}@")
            creds["nats password"] = nats_pw
        if not args.no_smtp:
            smtp_pw = rnd("SmtpPassword")
            extra["EVENTAUTH_SMTP_URL"] = f"smtp://chaosmail:{smtp_pw}@127.0.0.1:{chaoslib.free_port()}"
            creds["smtp password"] = smtp_pw
        # The CLI calls need the same secrets (identifier hashes are keyed with
        # EVENTAUTH_SECRET); NATS_URL is dropped for them anyway.
        run.common_env.update(extra)
        env = run.server_env(nats=True)
        server = run.server("server", env)
        server.start()
        chaoslib.say(f"server at {server.url}, RUST_LOG={env['RUST_LOG']}")
        web = Http(server.url, args.show_responses)
        secrets: dict[str, set[str]] = {}
        flows(run, web, secrets)
        secrets["credential"] = set(creds.values())
        time.sleep(2)  # the last log lines, the mail sender's tries
        stream = await chaoslib.stream_messages(run.nats_url, run.stream, f"{run.prefix}.>",
                                                len(chaoslib.events_in_order(run.db_url)), timeout=60)
        secrets["hash"] = hashes_in_events(run)
        server.terminate()
        logs = server.log_lines()

        print(f"\ncaptured: {len(logs)} log lines, {len(web.exchanges)} responses, "
              f"{len(stream['messages'])} NATS messages; looking for {sum(map(len, secrets.values()))} values "
              f"({', '.join(f'{len(v)} {k}' for k, v in secrets.items())}) and '$argon2'")
        hits: list[str] = []
        for n, line in enumerate(logs):
            hits += scan(f"server log line {n + 1}", line, secrets)
        for name, text in cli_outputs:
            hits += scan(f"output of `eventauth {name}`", text, secrets)
        for ex in web.exchanges:
            def allowed(kind, value, ex=ex):
                return kind == "token/cookie" and (web.issued.get(value) == ex.n or value in ex.request_text
                                                   or any(web.issued.get(full) == ex.n for full in web.issued
                                                          if full.endswith(value)))
            hits += scan(f"response #{ex.n} ({ex.step}: {ex.method} {ex.path} -> {ex.status})", ex.text,
                         secrets, allowed)
        for m in stream["messages"]:
            text = m["subject"] + "\n" + json.dumps(m["headers"]) + "\n" + m["raw"].decode("utf-8", "replace")
            hits += scan(f"NATS message seq {m['seq']} ({m['subject']})", text, secrets)
        for purpose, attempts, sent, error in chaoslib.query(
                run.db_url, "SELECT purpose, attempts, sent_at IS NOT NULL, last_error FROM mail_outbox"):
            hits += scan(f"mail_outbox.last_error ({purpose})", error or "", secrets)
        for hit in hits[:200]:
            print("  HIT " + hit)
        if len(hits) > 200:
            print(f"  … and {len(hits) - 200} more")

        # Self-test of the capture: every issued value is seen where it was
        # issued, every password in some request.
        unseen = [v for v, n in web.issued.items() if v not in web.exchanges[n].text]
        unsent = [p for p in secrets["password"] if not any(p in ex.request_text for ex in web.exchanges)]
        mail_rows = chaoslib.query(run.db_url, "SELECT purpose, attempts, sent_at IS NOT NULL, last_error "
                                               "FROM mail_outbox ORDER BY created_at")
        print(f"  mail outbox: {[(p, a, 'sent' if s else 'unsent', (e or '')[:80]) for p, a, s, e in mail_rows]}")

        print("\nchecks:")
        checks.check("self-test: the capture holds every issued token where it was issued, every password "
                     "in a request", not unseen and not unsent,
                     f"{len(unseen)} tokens, {len(unsent)} passwords not found")
        checks.check("every step of the flows answered as expected", not web.failures, "; ".join(web.failures))
        checks.check("RUST_LOG=debug took effect", any('"DEBUG"' in line for line in logs))
        checks.check("the requests were logged", any("/sign/login" in line for line in logs))
        checks.check("the relay published the events", len(stream["messages"]) > 0,
                     f"{len(stream['messages'])} messages")
        checks.check("no secret in any log line, response or NATS message", not hits, f"{len(hits)} hit(s)")
    except Exception as error:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        checks.check("the run itself completed", False, repr(error))
    finally:
        run.close()
        if role:
            try:
                chaoslib.admin_query(run.pg_base, f"DROP ROLE IF EXISTS {role}")
            except Exception as error:  # noqa: BLE001
                print(f"[chaos] could not drop role {role}: {error}")
    return checks.finish("secret_scan")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
