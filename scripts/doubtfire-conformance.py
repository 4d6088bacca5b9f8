#!/usr/bin/env python3
"""Doubtfire wire-conformance check for eventauth's Doubtfire auth surface.

Doubtfire (doubtfire-lms/doubtfire-api, Grape on Rails) is checked against
what its source does, as written up in the research notes (sections 1.0-1.6
and 2): `POST /api/auth` (JSON and form bodies, Grape's 400 texts, 401,
201 `{user, auth_token}` with exactly UserEntity's fields), several tokens per
user, `PUT /api/auth` (header names in any case and with `_`, the
`?Username=&Auth-Token=` query, its 404 texts), a protected GET
(`/api/users/<id>`: headers or `auth_token`/`username` params, 419 texts,
403 for another user), `DELETE /api/auth` (204, that one token only),
`/api/auth/method`, `/api/auth/signout_url`, and token expiry on a second
instance started with EVENTAUTH_DOUBTFIRE_TOKEN_TTL=2.

Usernames on this surface are the users' emails; users are registered over
HTTP (`POST /sign/register`). Remember lifetimes are not observable over
HTTP beyond "a remembered Student token outlives the 2 s default"; the rest is
skipped. The first instance runs with EVENTAUTH_CORS_ORIGINS=* (Doubtfire's
Rack::Cors `origins '*'`; eventauth's CORS is opt-in) for the preflight step.

Python 3.11 standard library only.  Usage:

    python3 scripts/doubtfire-conformance.py [--eventauth-bin target/debug/eventauth]

Prints one line per step ("ok" or "DIFF") and a summary; exits 1 when any
step differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USER_KEYS = {"id", "student_id", "email", "first_name", "last_name", "username", "nickname",
             "receive_task_notifications", "receive_portfolio_notifications",
             "receive_feedback_notifications", "opt_in_to_research", "has_run_first_time_setup",
             "system_role"}
NO_AUTH = {"error": "No authentication details provided. Authentication is required to access this resource."}
EXPIRED = {"error": "Authentication token expired."}
BAD_LOGIN = {"error": "Invalid email or password."}
INVALID_TOKEN = {"error": "Invalid token."}
NO_TOKEN = {"error": "Invalid token/username."}

diffs: list[str] = []
oks: list[str] = []


def step(name: str, ok: bool, detail: str = "") -> None:
    print(("ok   " if ok else "DIFF ") + name + ("" if ok else f"\n       {detail}"))
    (oks if ok else diffs).append(name)


class Response:
    def __init__(self, method, path, status, raw, headers, sent):
        self.method, self.path, self.status, self.raw, self.headers, self.sent = method, path, status, raw, headers, sent
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw.decode(errors="replace")

    def ctype(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def __repr__(self) -> str:
        return (f"{self.method} {self.path} {self.sent} -> {self.status} "
                f"[{self.headers.get('Content-Type')}] {self.raw.decode(errors='replace')[:300]!r}")


class Client:
    def __init__(self, base: str):
        self.base = base

    def call(self, method, path, body=None, form=None, headers=None, query=None) -> Response:
        data, sent = None, {}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        req_headers = {"Accept": "application/json"}
        if body is not None:
            data, req_headers["Content-Type"] = json.dumps(body).encode(), "application/json"
            sent["json"] = body
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            req_headers["Content-Type"] = "application/x-www-form-urlencoded"
            sent["form"] = form
        req_headers.update(headers or {})
        if headers:
            sent["headers"] = headers
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=req_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        return Response(method, path, status, raw, hdrs, sent or "")


def expect(name: str, r: Response, status: int, body=..., ctype: str | None = "application/json") -> bool:
    """A step: `r` has this status, (unless ...) exactly this JSON body, and
    (unless None) this content type."""
    ok = r.status == status and (body is ... or r.body == body) and (ctype is None or r.ctype() == ctype)
    step(name, ok, repr(r))
    return ok


def user_problem(u, email: str) -> str:
    """Why `u` is not Doubtfire's UserEntity for the Student `email`."""
    if not isinstance(u, dict):
        return f"not an object: {u!r}"
    if set(u) != USER_KEYS:
        return f"extra {sorted(set(u) - USER_KEYS)}, missing {sorted(USER_KEYS - set(u))}"
    if type(u["id"]) is not int:
        return f"id {u['id']!r} is not an integer"
    if u["system_role"] != "Student":
        return f"system_role {u['system_role']!r}"
    if u["email"] != email or str(u["username"]).lower() != email:
        return f"email {u['email']!r} / username {u['username']!r}, want {email!r}"
    for key in ("receive_task_notifications", "receive_portfolio_notifications",
                "receive_feedback_notifications", "has_run_first_time_setup"):
        if not isinstance(u[key], bool):
            return f"{key} {u[key]!r} is not a boolean"
    if u["opt_in_to_research"] is not None and not isinstance(u["opt_in_to_research"], bool):
        return f"opt_in_to_research {u['opt_in_to_research']!r}"
    if not all(u[k] is None or isinstance(u[k], str) for k in ("student_id", "nickname", "first_name", "last_name")):
        return "a name field or student_id is neither string nor null"
    return ""


def login_ok(name: str, r: Response, email: str) -> tuple[int | None, str | None]:
    """A 201 sign-in answer; returns (user id, token)."""
    b = r.body if isinstance(r.body, dict) else {}
    shape = r.status == 201 and set(b) == {"user", "auth_token"} and r.ctype() == "application/json"
    tok = b.get("auth_token")
    good_tok = isinstance(tok, str) and re.fullmatch(r"[A-Za-z0-9._~-]+", tok or "") is not None
    problem = user_problem(b.get("user"), email) if shape else ""
    step(name, shape and good_tok and not problem, problem or repr(r))
    return ((b.get("user") or {}).get("id") if shape else None), tok


def hdrs(token, username, style="Auth-Token"):
    return {style: token, ("Username" if style[0] == "A" else "username"): username}


def scenario(c: Client) -> None:
    alice = {"email": "alice.df@example.com", "password": "alice's long password", "firstName": "Alice", "lastName": "Student"}
    bob = {"email": "bob.df@example.com", "password": "bob's long password", "firstName": "Bob", "lastName": "Other"}
    for p in (alice, bob):
        expect(f"register {p['email']}: 201", c.call("POST", "/sign/register", p), 201, ctype=None)
    a_mail, a_pw = alice["email"], alice["password"]

    # POST /api/auth
    a_id, t1 = login_ok("POST /api/auth JSON: 201 {user, auth_token}, UserEntity fields",
                        c.call("POST", "/api/auth", {"username": a_mail, "password": a_pw}), a_mail)
    r = c.call("POST", "/api/auth", {"username": a_mail, "password": a_pw})
    if isinstance(r.body, dict) and isinstance(r.body.get("user"), dict):
        u = r.body["user"]
        step("user names are the registered first/last name", (u.get("first_name"), u.get("last_name")) == ("Alice", "Student"), repr(r))
    uid, t2 = login_ok("POST /api/auth form-encoded: 201", c.call("POST", "/api/auth", form={"username": a_mail, "password": a_pw}), a_mail)
    step("form login: same integer id", uid == a_id and a_id is not None, f"{uid!r} vs {a_id!r}")
    uid, _ = login_ok("POST /api/auth upper-case username: 201", c.call("POST", "/api/auth", {"username": a_mail.upper(), "password": a_pw}), a_mail)
    step("upper-case username: same user id", uid == a_id, f"{uid!r} vs {a_id!r}")
    for path in ("/api/auth.json", "/api/auth/"):
        uid, _ = login_ok(f"POST {path}: 201 like /api/auth", c.call("POST", path, {"username": a_mail, "password": a_pw}), a_mail)
        step(f"POST {path}: same user id", uid == a_id, f"{uid!r} vs {a_id!r}")
    for val in (True, "true", False, "0"):
        login_ok(f"POST /api/auth remember={val!r}: 201",
                 c.call("POST", "/api/auth", {"username": a_mail, "password": a_pw, "remember": val}), a_mail)
    step("two logins give two different tokens", bool(t1 and t2 and t1 != t2), f"{t1!r} {t2!r}")

    # Grape's validation errors: 400 (rescue_from answers them as content-type text/error).
    both = {"error": "username is missing, password is missing"}
    bad = [(name, r) for name, r, body in (
        ("{}", c.call("POST", "/api/auth", {}), both),
        ("no body", c.call("POST", "/api/auth"), both),
        ("without password", c.call("POST", "/api/auth", {"username": a_mail}), {"error": "password is missing"}),
        ("without username (form)", c.call("POST", "/api/auth", form={"password": a_pw}), {"error": "username is missing"}),
        ("remember='banana'", c.call("POST", "/api/auth", {"username": a_mail, "password": a_pw, "remember": "banana"}),
         {"error": "remember is invalid"}),
    ) if expect(f"POST /api/auth {name}: 400 {body['error']!r}", r, 400, body, ctype=None)]
    odd = [f"{name}: {r.headers.get('Content-Type')}" for name, r in bad if r.ctype() != "text/error"]
    step("those 400s have content-type text/error", not odd, "; ".join(odd))
    expect("POST /api/auth wrong password: 401", c.call("POST", "/api/auth", {"username": a_mail, "password": "not the password"}), 401, BAD_LOGIN)
    expect("POST /api/auth unknown user: 401", c.call("POST", "/api/auth", {"username": "nobody.df@example.com", "password": "whatever pw"}), 401, BAD_LOGIN)
    expect("POST /api/auth.json unknown user: 401", c.call("POST", "/api/auth.json", form={"username": "nobody.df@example.com", "password": "x"}), 401, BAD_LOGIN)

    # Protected GET /api/users/<id>
    me = f"/api/users/{a_id}"
    for name, t in (("token 1", t1), ("token 2", t2)):
        r = c.call("GET", me, headers=hdrs(t, a_mail))
        p = user_problem(r.body, a_mail) if r.status == 200 else repr(r)
        step(f"GET {me} with {name} headers: 200 user object", p == "" and r.body.get("id") == a_id, p or repr(r))
    r = c.call("GET", me, headers=hdrs(t1, a_mail, "Auth_Token"))
    step("GET own user with Auth_Token (underscore) header: 200", r.status == 200 and user_problem(r.body, a_mail) == "", repr(r))
    r = c.call("GET", me, headers=hdrs(t1, a_mail, "auth-token"))
    step("GET own user with lower-case headers: 200", r.status == 200 and user_problem(r.body, a_mail) == "", repr(r))
    r = c.call("GET", me, query={"auth_token": t1, "username": a_mail})
    step("GET own user with ?auth_token=&username=: 200", r.status == 200 and user_problem(r.body, a_mail) == "", repr(r))
    r = c.call("GET", me + ".json", headers=hdrs(t1, a_mail))
    step("GET own user .json suffix: 200", r.status == 200 and user_problem(r.body, a_mail) == "", repr(r))
    expect("GET own user without credentials: 419", c.call("GET", me), 419, NO_AUTH)
    expect("GET own user with a wrong token: 419", c.call("GET", me, headers=hdrs("wrongwrongwrongwrong", a_mail)), 419, NO_AUTH)
    expect("GET own user with token but no username: 419", c.call("GET", me, headers={"Auth-Token": t1}), 419, NO_AUTH)
    b_id, b_tok = login_ok("POST /api/auth second user: 201",
                           c.call("POST", "/api/auth", {"username": bob["email"], "password": bob["password"]}), bob["email"])
    step("second user has another integer id", isinstance(b_id, int) and b_id != a_id, f"{b_id!r} vs {a_id!r}")
    expect("GET own user with bob's token under alice's name: 419", c.call("GET", me, headers=hdrs(b_tok, a_mail)), 419, NO_AUTH)
    expect(f"GET /api/users/{b_id} (another user): 403", c.call("GET", f"/api/users/{b_id}", headers=hdrs(t1, a_mail)),
           403, {"error": f"Cannot find User with id {b_id}"})

    # PUT /api/auth
    for style in ("Auth-Token", "Auth_Token", "auth-token", "auth_token"):
        expect(f"PUT /api/auth with {style}/Username headers: 200 same token",
               c.call("PUT", "/api/auth", headers=hdrs(t1, a_mail, style)), 200, {"auth_token": t1})
    expect("PUT /api/auth JSON body {username, remember} + headers (the web client): 200",
           c.call("PUT", "/api/auth", {"username": a_mail, "remember": True}, headers=hdrs(t2, a_mail)), 200, {"auth_token": t2})
    expect("PUT /api/auth?Username=&Auth-Token=: 200 same token",
           c.call("PUT", "/api/auth", query={"Username": a_mail, "Auth-Token": t1}), 200, {"auth_token": t1})
    expect("PUT /api/auth.json: 200", c.call("PUT", "/api/auth.json", headers=hdrs(t1, a_mail)), 200, {"auth_token": t1})
    expect("PUT /api/auth without credentials: 404", c.call("PUT", "/api/auth"), 404, NO_TOKEN)
    expect("PUT /api/auth/ without username: 404", c.call("PUT", "/api/auth/", headers={"Auth-Token": t1}), 404, NO_TOKEN)
    expect("PUT /api/auth wrong token: 404", c.call("PUT", "/api/auth", headers=hdrs("wrongwrongwrongwrong", a_mail)), 404, INVALID_TOKEN)
    expect("PUT /api/auth alice's token, bob's username: 404", c.call("PUT", "/api/auth", headers=hdrs(t1, bob["email"])), 404, INVALID_TOKEN)
    expect("PUT /api/auth unknown username: 404", c.call("PUT", "/api/auth", headers=hdrs(t1, "nobody.df@example.com")), 404, INVALID_TOKEN)
    # Deliberate difference: Doubtfire's PUT compares the username
    # case-sensitively (its lookup does not); eventauth compares usernames
    # (emails) case-insensitively everywhere, as its sign-in does.
    expect("PUT /api/auth username in other case (eventauth: case-insensitive): 200",
           c.call("PUT", "/api/auth", headers=hdrs(t1, a_mail.upper())), 200, {"auth_token": t1})

    # DELETE /api/auth
    r = c.call("DELETE", "/api/auth", headers=hdrs(t1, a_mail))
    step("DELETE /api/auth: 204 empty body", r.status == 204 and r.raw == b"", repr(r))
    expect("after DELETE: GET with that token 419", c.call("GET", me, headers=hdrs(t1, a_mail)), 419, NO_AUTH)
    expect("after DELETE: PUT with that token 404 Invalid token.", c.call("PUT", "/api/auth", headers=hdrs(t1, a_mail)), 404, INVALID_TOKEN)
    r = c.call("GET", me, headers=hdrs(t2, a_mail))
    step("after DELETE: the other token still works (GET 200)", r.status == 200 and user_problem(r.body, a_mail) == "", repr(r))
    expect("after DELETE: PUT with the other token 200", c.call("PUT", "/api/auth", headers=hdrs(t2, a_mail)), 200, {"auth_token": t2})
    for name, h in (("garbage token", hdrs("garbagegarbagegarbag", a_mail)), ("no headers", {}),
                    ("unknown user", hdrs("garbagegarbagegarbag", "nobody.df@example.com"))):
        r = c.call("DELETE", "/api/auth", headers=h)
        step(f"DELETE /api/auth with {name}: 204 empty body", r.status == 204 and r.raw == b"", repr(r))
    r = c.call("GET", me, headers=hdrs(t2, a_mail))
    step("the garbage DELETEs left the live token alone", r.status == 200, repr(r))

    # Unauthenticated settings
    expect("GET /api/auth/method: database, redirect_to null", c.call("GET", "/api/auth/method"), 200,
           {"method": "database", "redirect_to": None})
    expect("GET /api/auth/signout_url: null", c.call("GET", "/api/auth/signout_url"), 200, {"auth_signout_url": None})

    # CORS preflight as the web UI (port 4200) sends it
    r = c.call("OPTIONS", "/api/auth", headers={"Origin": "http://localhost:4200", "Access-Control-Request-Method": "PUT",
                                               "Access-Control-Request-Headers": "auth-token,username,content-type"})
    allow = (r.headers.get("Access-Control-Allow-Headers") or "").lower()
    step("CORS preflight from :4200 allows PUT with Auth-Token, Username, Content-Type",
         200 <= r.status < 300 and r.headers.get("Access-Control-Allow-Origin") in ("*", "http://localhost:4200")
         and (allow == "*" or all(h in allow for h in ("auth-token", "username", "content-type"))), repr(r) + f" {dict(r.headers)}")


def expiry_scenario(c: Client) -> None:
    carol = {"email": "carol.df@example.com", "password": "carol's long password", "firstName": "Carol", "lastName": "Short"}
    expect("[ttl=2] register: 201", c.call("POST", "/sign/register", carol), 201, ctype=None)
    creds = {"username": carol["email"], "password": carol["password"]}
    cid, ta = login_ok("[ttl=2] login (no remember): 201", c.call("POST", "/api/auth", creds), carol["email"])
    _, tb = login_ok("[ttl=2] second login (no remember): 201", c.call("POST", "/api/auth", creds), carol["email"])
    _, tr = login_ok("[ttl=2] login remember=true: 201", c.call("POST", "/api/auth", dict(creds, remember=True)), carol["email"])
    me = f"/api/users/{cid}"
    r = c.call("GET", me, headers=hdrs(ta, carol["email"]))
    step("[ttl=2] fresh token: GET 200", r.status == 200, repr(r))
    time.sleep(3)
    # Token A: the protected GET meets the expiry first (and Doubtfire deletes the row).
    expect("[ttl=2] after 3 s: GET 419 expired", c.call("GET", me, headers=hdrs(ta, carol["email"])), 419, EXPIRED)
    # Deliberate difference: Doubtfire deletes the row as it refuses it (its
    # second answer says "No authentication details…"); eventauth writes
    # nothing on a refusal, so the expiry is said again. The web client
    # acts on the 419 alone (scripts/doubtfire-browser).
    expect("[ttl=2] GET again: 419 expired again (eventauth: refusals write nothing)", c.call("GET", me, headers=hdrs(ta, carol["email"])), 419, EXPIRED)
    # Token B: PUT meets the expiry first: 200 with the same token, not extended.
    expect("[ttl=2] PUT on an expired token: 200 same token", c.call("PUT", "/api/auth", headers=hdrs(tb, carol["email"])), 200, {"auth_token": tb})
    expect("[ttl=2] that PUT did not extend it: GET 419 expired", c.call("GET", me, headers=hdrs(tb, carol["email"])), 419, EXPIRED)
    r = c.call("GET", me, headers=hdrs(tr, carol["email"]))
    step("[ttl=2] a remembered Student token outlives the default lifetime: GET 200", r.status == 200, repr(r))


@contextmanager
def server(binary: str, **extra: str):
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("EVENTAUTH_") and k not in ("DATABASE_URL", "NATS_URL")}
        env.update(EVENTAUTH_DATA_DIR=data, EVENTAUTH_ADDR=f"127.0.0.1:{port}", **extra)
        proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise SystemExit(f"eventauth exited with {proc.returncode}")
                    time.sleep(0.1)
            yield Client(base)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    args = parser.parse_args()
    if not Path(args.eventauth_bin).exists():
        subprocess.run(["cargo", "build"], cwd=REPO, check=True)
    # Doubtfire's Rack::Cors allows any origin; eventauth's CORS is opt-in.
    with server(args.eventauth_bin, EVENTAUTH_CORS_ORIGINS="*") as c:
        scenario(c)
    with server(args.eventauth_bin, EVENTAUTH_DOUBTFIRE_TOKEN_TTL="2") as c:
        expiry_scenario(c)
    print(f"\n{len(oks)} ok, {len(diffs)} DIFF" + ("" if diffs else ": all steps conform"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
