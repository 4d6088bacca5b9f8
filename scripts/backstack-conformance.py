#!/usr/bin/env python3
"""Backstack wire-conformance check for eventauth's Backstack surface.

Backstack is a hosted service, so this script checks eventauth against what
its public docs (../shared/seeds/004_929513ec15271b2c.txt) and the seeds
README (../shared/seeds/README.md, "Backstack") state: the session object
of `POST /v1/auth/login` (shared with Open Archiver), account selection
(`select_account`, `POST /v1/auth/login-account`), `GET /v1/auth/session`,
logout by GET and POST, the HttpOnly `BackstackJWT` cookie, the error
object `{"error": {type, code, message, fields}}` (`fields` `[]` when empty,
an object when a field is at fault) and the Origin check on unsafe requests.

Users are registered over HTTP (`POST /sign/register`); accounts and
memberships are made with the CLI (`eventauth account create` /
`account add-member`) against the same embedded store while the server
runs. Cookies are handled by hand: `Set-Cookie` read, `Cookie` sent.

Python 3.11 standard library only.  Usage:

    python3 scripts/backstack-conformance.py [--eventauth-bin target/debug/eventauth]

Exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COOKIE = "BackstackJWT"
ERROR_KEYS = {"type", "code", "message", "fields"}
SIGNED_OUT = {"auth": False, "account": None, "user": None, "access": {}}
BACKSTACK_USER_KEYS = {"id", "username", "name", "email", "avatar", "roles"}

failures: list[str] = []
passed: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  ({detail})"))
    (passed if ok else failures).append(name)


class Response:
    def __init__(self, status: int, body, headers):
        self.status, self.body, self.headers = status, body, headers

    def set_cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []

    def cookie(self) -> str | None:
        """The value the answer sets `BackstackJWT` to (None: not set)."""
        for line in self.set_cookies():
            name, _, rest = line.partition("=")
            if name.strip() == COOKIE:
                return rest.split(";", 1)[0]
        return None

    def cookie_attributes(self) -> set[str]:
        for line in self.set_cookies():
            if line.split("=", 1)[0].strip() == COOKIE:
                return {part.strip().lower() for part in line.split(";")[1:]}
        return set()

    def __repr__(self) -> str:
        return f"{self.status} {self.body}"


class Client:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None, cookie: str | None = None,
             headers: dict | None = None) -> Response:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if cookie:
            req.add_header("Cookie", f"{COOKIE}={cookie}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(status, parsed, hdrs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error_problem(r: Response, status: int, *, fields: str, only_error: bool = True) -> str:
    """Why `r` is not Backstack's error with `status` ("" when it is).
    fields: "empty" (must be the array []) or "object" (a non-empty object
    of field -> message). only_error: the body has no other key (the shared
    login also carries Open Archiver's `message`)."""
    b = r.body
    if r.status != status:
        return f"status {r.status}, body {b}"
    if not isinstance(b, dict) or not isinstance(b.get("error"), dict):
        return f"no error object: {b}"
    if only_error and set(b) != {"error"}:
        return f"body keys {sorted(b)}"
    e = b["error"]
    if set(e) != ERROR_KEYS:
        return f"error keys {sorted(e)}"
    if e["type"] not in ("user", "codebase", "system"):
        return f"type {e['type']!r}"
    if e["code"] != status or not isinstance(e["code"], int):
        return f"code {e['code']!r}"
    if not isinstance(e["message"], str) or not e["message"]:
        return f"message {e['message']!r}"
    if fields == "empty" and e["fields"] != []:
        return f"fields {e['fields']!r} (want [])"
    if fields == "object" and not (isinstance(e["fields"], dict) and e["fields"]
                                   and all(isinstance(v, str) for v in e["fields"].values())):
        return f"fields {e['fields']!r} (want a non-empty object)"
    return ""


def session_problem(b, *, auth: bool) -> str:
    """Why `b` is not a session object with this `auth` ("" when it is)."""
    if not isinstance(b, dict):
        return f"not an object: {b!r}"
    missing = {"auth", "account", "user", "access"} - set(b)
    if missing:
        return f"missing {sorted(missing)}"
    if b["auth"] is not auth:
        return f"auth {b['auth']!r}"
    if not isinstance(b["access"], dict):
        return f"access {b['access']!r}"
    if auth:
        if not (isinstance(b["account"], dict) and {"id", "title"} <= set(b["account"])):
            return f"account {b['account']!r}"
    user = b["user"]
    if user is not None:
        if not isinstance(user, dict) or not BACKSTACK_USER_KEYS <= set(user):
            return f"user keys {sorted(user) if isinstance(user, dict) else user!r}"
        if not isinstance(user["roles"], list):
            return f"user.roles {user['roles']!r}"
        if not all(isinstance(user[k], str) for k in ("id", "username", "name", "email")):
            return f"user {user!r}"
        if "password" in json.dumps(user).lower():
            return "a password in the user"
    return ""


def scenario(c: Client, cli) -> None:
    people = {
        "solo": {"email": "solo@example.com", "password": "solo's long password", "firstName": "Sol", "lastName": "Oner"},
        "multi": {"email": "multi@example.com", "password": "multi's long password", "firstName": "Mia", "lastName": "Many"},
        "other": {"email": "other@example.com", "password": "other's long password", "firstName": "Oto", "lastName": "Ther"},
    }
    for key, person in people.items():
        r = c.call("POST", "/sign/register", person)
        check(f"register {key}: 201", r.status == 201, f"{r}")

    solo_acc = cli("account", "create", "--title", "Solo Co")
    foo = cli("account", "create", "--title", "Foo Account")
    bar = cli("account", "create", "--title", "Bar Account")
    baz = cli("account", "create", "--title", "Baz Account")
    foreign = cli("account", "create", "--title", "Foreign Account")
    ids = [solo_acc, foo, bar, baz, foreign]
    check("CLI account create prints five distinct ids", all(ids) and len(set(ids)) == 5, f"{ids}")
    cli("account", "add-member", "--account", solo_acc, "--email", people["solo"]["email"], "--role", "admin", "--role", "billing")
    cli("account", "add-member", "--account", foo, "--email", people["multi"]["email"], "--role", "admin")
    cli("account", "add-member", "--account", bar, "--email", people["multi"]["email"], "--role", "editor", "--role", "viewer")
    cli("account", "add-member", "--account", baz, "--email", people["multi"]["email"], "--role", "viewer")
    cli("account", "add-member", "--account", foreign, "--email", people["other"]["email"], "--role", "admin")
    titles = {foo: "Foo Account", bar: "Bar Account", baz: "Baz Account"}

    # Errors.
    solo = people["solo"]
    r = c.call("POST", "/v1/auth/login", {"username": solo["email"], "password": "not the password"})
    p = error_problem(r, 401, fields="empty", only_error=False)
    check("login wrong password: 401 error, fields []", p == "", p)
    check("login wrong password: no session cookie", r.cookie() in (None, ""), f"{r.set_cookies()}")
    r = c.call("POST", "/v1/auth/login", {"username": "nobody@example.com", "password": "not the password"})
    p = error_problem(r, 401, fields="empty", only_error=False)
    check("login unknown user: 401 error, fields []", p == "", p)
    r = c.call("POST", "/v1/auth/login", {"username": "x@example.com"})
    p = error_problem(r, 400, fields="object", only_error=False)
    check("login without password: 400 error, fields an object", p == "", p)
    if p == "":
        check("login without password: fields names password", "password" in r.body["error"]["fields"], f"{r.body}")
    r = c.call("POST", "/v1/auth/login", {"password": "whatever password"})
    p = error_problem(r, 400, fields="object", only_error=False)
    check("login without username: 400 error, fields an object", p == "", p)
    r = c.call("POST", "/v1/auth/login-account", {"account_id": foo})
    p = error_problem(r, 401, fields="empty")
    check("login-account without a session: 401 error, fields []", p == "", p)

    # Signed out.
    r = c.call("GET", "/v1/auth/session")
    check("session without cookie: 200 signed-out object", r.status == 200 and r.body == SIGNED_OUT, f"{r}")
    r = c.call("GET", "/v1/auth/session", cookie="not-a-session")
    check("session with a bogus cookie: 200 signed-out object", r.status == 200 and r.body == SIGNED_OUT, f"{r}")

    # One account: straight in.
    r = c.call("POST", "/v1/auth/login", {"username": solo["email"], "password": solo["password"]})
    check("login one-account user: 200", r.status == 200, f"{r}")
    p = session_problem(r.body, auth=True)
    check("login one-account user: session object, auth true", p == "", p)
    b = r.body if isinstance(r.body, dict) else {}
    check("login one-account user: account {id, title}", b.get("account") == {"id": solo_acc, "title": "Solo Co"}, f"{b.get('account')}")
    check("login one-account user: no select_account", "select_account" not in b, f"{b.get('select_account')}")
    user = b.get("user") or {}
    check("login one-account user: user email/username/name",
          user.get("email") == solo["email"] and user.get("username") == solo["email"] and user.get("name") == "Sol Oner", f"{user}")
    check("login one-account user: user.roles are the account's", sorted(user.get("roles") or []) == ["admin", "billing"], f"{user.get('roles')}")
    solo_cookie = r.cookie()
    attrs = r.cookie_attributes()
    check("login sets BackstackJWT", bool(solo_cookie), f"{r.set_cookies()}")
    check("BackstackJWT is HttpOnly; SameSite=Lax", "httponly" in attrs and "samesite=lax" in attrs, f"{r.set_cookies()}")
    check("BackstackJWT not Secure over plain HTTP (cookie-secure auto)", "secure" not in attrs, f"{r.set_cookies()}")
    r = c.call("GET", "/v1/auth/session", cookie=solo_cookie)
    check("session with cookie: 200 auth true", r.status == 200 and session_problem(r.body, auth=True) == "", f"{r}")
    check("session with cookie: same account and user", isinstance(r.body, dict)
          and r.body.get("account") == {"id": solo_acc, "title": "Solo Co"}
          and (r.body.get("user") or {}).get("id") == user.get("id"), f"{r}")

    # CSRF: an unsafe request from a foreign Origin.
    r = c.call("POST", "/v1/auth/logout", cookie=solo_cookie, headers={"Origin": "https://evil.example"})
    check("logout POST from a foreign Origin: 403", r.status == 403, f"{r}")
    p = error_problem(r, 403, fields="empty")
    check("logout POST from a foreign Origin: error object", p == "", p)
    r = c.call("GET", "/v1/auth/session", cookie=solo_cookie)
    check("the refused logout left the session alive", r.status == 200 and isinstance(r.body, dict) and r.body.get("auth") is True, f"{r}")

    r = c.call("POST", "/v1/auth/logout", cookie=solo_cookie, headers={"Origin": c.base})
    check("logout POST from its own Origin: 200 signed out", r.status == 200 and r.body == SIGNED_OUT, f"{r}")
    check("logout clears the cookie", r.cookie() == "" or any("max-age=0" in a for a in r.cookie_attributes()), f"{r.set_cookies()}")
    r = c.call("GET", "/v1/auth/session", cookie=solo_cookie)
    check("after POST logout the old cookie is signed out", r.status == 200 and isinstance(r.body, dict) and r.body.get("auth") is False, f"{r}")
    check("after POST logout: the signed-out object", r.body == SIGNED_OUT, f"{r}")

    # Three accounts: choose one.
    multi = people["multi"]
    r = c.call("POST", "/v1/auth/login", {"username": multi["email"], "password": multi["password"]})
    check("login three-account user: 200", r.status == 200, f"{r}")
    p = session_problem(r.body, auth=False)
    check("login three-account user: session object, auth false", p == "", p)
    b = r.body if isinstance(r.body, dict) else {}
    sel = b.get("select_account")
    check("login three-account user: top-level select_account {accounts, last_login}",
          isinstance(sel, dict) and set(sel) >= {"accounts", "last_login"}, f"{b}")
    sel = sel if isinstance(sel, dict) else {}
    check("select_account.accounts: id -> title of the three", sel.get("accounts") == titles, f"{sel.get('accounts')}")
    check("select_account.last_login null on first login", "last_login" in sel and sel.get("last_login") is None, f"{sel}")
    check("no account while choosing", b.get("account") is None, f"{b.get('account')}")
    multi_cookie = r.cookie()
    check("login three-account user sets BackstackJWT", bool(multi_cookie), f"{r.set_cookies()}")
    r = c.call("GET", "/v1/auth/session", cookie=multi_cookie)
    check("session while choosing: auth false with select_account", r.status == 200 and session_problem(r.body, auth=False) == ""
          and isinstance(r.body.get("select_account"), dict), f"{r}")

    r = c.call("POST", "/v1/auth/login-account", {}, cookie=multi_cookie)
    p = error_problem(r, 400, fields="object")
    check("login-account {}: 400 error, fields an object", p == "", p)
    if p == "":
        check("login-account {}: fields names account_id", "account_id" in r.body["error"]["fields"], f"{r.body}")
    r = c.call("POST", "/v1/auth/login-account", {"account_id": foreign}, cookie=multi_cookie)
    p = error_problem(r, 404, fields="empty")
    check("login-account foreign account: 404 error, type user, fields []", p == "" and r.body["error"]["type"] == "user", p or f"{r}")
    r = c.call("POST", "/v1/auth/login-account", {"account_id": "acc_1234567890"}, cookie=multi_cookie)
    p = error_problem(r, 404, fields="empty")
    check("login-account unknown account id: 404 error", p == "", p)
    r = c.call("GET", "/v1/auth/session", cookie=multi_cookie)
    check("refused choices leave the session choosing", r.status == 200 and isinstance(r.body, dict)
          and r.body.get("auth") is False, f"{r}")

    r = c.call("POST", "/v1/auth/login-account", {"account_id": bar}, cookie=multi_cookie)
    check("login-account: 200", r.status == 200, f"{r}")
    p = session_problem(r.body, auth=True)
    check("login-account: session object, auth true", p == "", p)
    b = r.body if isinstance(r.body, dict) else {}
    check("login-account: the chosen account", b.get("account") == {"id": bar, "title": "Bar Account"}, f"{b.get('account')}")
    check("login-account: user.roles are that account's", sorted((b.get("user") or {}).get("roles") or []) == ["editor", "viewer"], f"{b.get('user')}")
    multi_cookie = r.cookie() or multi_cookie  # follow a rotated cookie if one is set
    r = c.call("GET", "/v1/auth/session", cookie=multi_cookie)
    check("session after choosing: auth true, the chosen account", r.status == 200 and session_problem(r.body, auth=True) == ""
          and r.body.get("account") == {"id": bar, "title": "Bar Account"}, f"{r}")

    r = c.call("GET", "/v1/auth/logout", cookie=multi_cookie)
    check("logout GET: 200 signed out (auth false, user and account null)", r.status == 200 and r.body == SIGNED_OUT, f"{r}")
    r = c.call("GET", "/v1/auth/session", cookie=multi_cookie)
    check("after GET logout the old cookie is signed out", r.status == 200 and isinstance(r.body, dict) and r.body.get("auth") is False, f"{r}")
    check("after GET logout: the signed-out object", r.body == SIGNED_OUT, f"{r}")
    r = c.call("POST", "/v1/auth/login-account", {"account_id": foo}, cookie=multi_cookie)
    check("login-account with the ended session: 401", r.status == 401 and error_problem(r, 401, fields="empty") == "", f"{r}")

    # Re-login remembers the choice.
    r = c.call("POST", "/v1/auth/login", {"username": multi["email"], "password": multi["password"]})
    sel = (r.body or {}).get("select_account") if isinstance(r.body, dict) else None
    check("re-login: auth false with select_account", r.status == 200 and isinstance(r.body, dict)
          and r.body.get("auth") is False and isinstance(sel, dict), f"{r}")
    check("re-login: select_account.last_login is the account chosen before", isinstance(sel, dict) and sel.get("last_login") == bar, f"{sel}")
    multi_cookie = r.cookie()
    r = c.call("POST", "/v1/auth/login-account", {"account_id": baz}, cookie=multi_cookie)
    check("login-account another account: auth true, that account", r.status == 200 and isinstance(r.body, dict)
          and r.body.get("auth") is True and r.body.get("account") == {"id": baz, "title": "Baz Account"}, f"{r}")
    multi_cookie = r.cookie() or multi_cookie
    r = c.call("POST", "/v1/auth/logout", cookie=multi_cookie)
    check("logout POST (no Origin): 200 signed out", r.status == 200 and r.body == SIGNED_OUT, f"{r}")
    r = c.call("GET", "/v1/auth/session", cookie=multi_cookie)
    check("after POST logout the session is over", r.status == 200 and r.body == SIGNED_OUT, f"{r}")
    r = c.call("POST", "/v1/auth/login", {"username": multi["email"], "password": multi["password"]})
    sel = (r.body or {}).get("select_account") if isinstance(r.body, dict) else None
    check("third login: last_login follows the latest choice", isinstance(sel, dict) and sel.get("last_login") == baz, f"{r}")
    c.call("GET", "/v1/auth/logout", cookie=r.cookie())

    # Logout without any session still answers the signed-out object.
    r = c.call("GET", "/v1/auth/logout")
    check("logout GET without a session: 200 signed out", r.status == 200 and r.body == SIGNED_OUT, f"{r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    args = parser.parse_args()
    if not Path(args.eventauth_bin).exists():
        subprocess.run(["cargo", "build"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = dict(os.environ, EVENTAUTH_DATA_DIR=data, EVENTAUTH_ADDR=f"127.0.0.1:{port}",
                   # /v1/auth/login shares Open Archiver's per-IP limit.
                   EVENTAUTH_OPENARCHIVER_RATE_LIMIT="0")
        for name in ("DATABASE_URL", "NATS_URL", "EVENTAUTH_CORS_ORIGINS", "EVENTAUTH_COOKIE_SECURE"):
            env.pop(name, None)

        def cli(*argv: str) -> str:
            """Runs an `eventauth` CLI command on the same store; its stdout."""
            done = subprocess.run([args.eventauth_bin, *argv], env=env, capture_output=True, text=True, timeout=120)
            ok = done.returncode == 0
            opts = dict(zip(argv[2::2], argv[3::2]))
            label = opts.get("--title") or f"{opts.get('--email')} roles {[v for k, v in zip(argv[2::2], argv[3::2]) if k == '--role']}"
            check(f"CLI {argv[0]} {argv[1]}: {label}", ok,
                  f"rc {done.returncode}: {done.stderr.strip().splitlines()[-1:] if done.stderr else ''}")
            return done.stdout.strip() if ok else ""

        server = subprocess.Popen([args.eventauth_bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            scenario(Client(base), cli)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"\n{len(passed)} passed, {len(failures)} failed" + ("" if failures else ": all checks pass"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
