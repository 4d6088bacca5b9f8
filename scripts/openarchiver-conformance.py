#!/usr/bin/env python3
"""Open Archiver wire-conformance check for eventauth's Open Archiver surface.

Open Archiver itself needs PostgreSQL, Meilisearch, Redis and Node to run, so
this script checks eventauth against what the seeds README states Open
Archiver answers (read from its source: ../shared/seeds/README.md): status
codes, error texts, the key sets and JSON types of bodies, and the HS256
token its front end verifies with the shared JWT_SECRET (checked here with
nothing but that secret and the standard library), and the user and role
administration sequences (`/v1/users*`, `/v1/iam/roles*`) with CASL's
predefined roles (Super Admin, End user, Read only).

`POST /v1/auth/login` is shared with the Backstack surface, so its error
bodies carry Open Archiver's `message` and Backstack's `error` object; the
login checks here read `message` (and that `error` is an object).

Open Archiver's per-IP rate limit is switched off for the run
(EVENTAUTH_OPENARCHIVER_RATE_LIMIT=0): the sequences make more than its
default 100 requests a minute.

Python 3.11 standard library only.  Usage:

    python3 scripts/openarchiver-conformance.py [--eventauth-bin target/debug/eventauth]

Exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "conformance-shared-jwt-secret"
USER_KEYS = {"id", "email", "first_name", "last_name", "provider", "providerId", "createdAt", "updatedAt", "role"}
ROLE_KEYS = {"id", "name", "slug", "policies", "createdAt", "updatedAt"}

failures: list[str] = []
passed: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  ({detail})"))
    (passed if ok else failures).append(name)


def request(base: str, method: str, path: str, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_hs256(token: str, secret: str):
    """The front end's check: HS256 signature with the shared secret, exp."""
    head, payload, signature = token.split(".")
    if json.loads(b64url(head)).get("alg") != "HS256":
        return None
    expected = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, b64url(signature)):
        return None
    claims = json.loads(b64url(payload))
    return claims if claims.get("exp", 0) > time.time() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def message(expected: str):
    return lambda status, body: isinstance(body, dict) and body == {"message": expected}


def login_message(expected: str):
    """The shared login's error: Open Archiver's `message` (plus Backstack's
    `error` object, which Open Archiver's clients ignore)."""
    return lambda status, body: (isinstance(body, dict) and body.get("message") == expected
                                 and isinstance(body.get("error"), dict))


def any_message(status, body) -> bool:
    return isinstance(body, dict) and set(body) == {"message"} and isinstance(body["message"], str) and body["message"] != ""


NO_PERMISSION = "You don't have the permission to perform the current action."
MANAGE_USERS = "Super Admin role is required to manage users."
MANAGE_ROLES = "Super Admin role is required to manage roles."
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def is_iso(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def user_object_problem(user) -> str:
    """Why `user` is not Open Archiver's user object ("" when it is)."""
    if not isinstance(user, dict):
        return f"not an object: {user!r}"
    if set(user) != USER_KEYS:
        return f"keys {sorted(user)}"
    for key in ("id", "email", "first_name", "last_name", "provider"):
        if not isinstance(user[key], str):
            return f"{key} is {user[key]!r}"
    if user["providerId"] is not None and not isinstance(user["providerId"], str):
        return f"providerId is {user['providerId']!r}"
    for key in ("createdAt", "updatedAt"):
        if not is_iso(user[key]):
            return f"{key} is {user[key]!r}"
    role = user["role"]
    if role is not None and (not isinstance(role, dict) or set(role) != ROLE_KEYS):
        return f"role is {role!r}"
    if "password" in json.dumps(user):
        return "a password in the user"
    return ""


def role_slug(user) -> str | None:
    return ((user or {}).get("role") or {}).get("slug") if isinstance(user, dict) else None


def scenario(base: str) -> None:
    s, b = request(base, "GET", "/v1/auth/status")
    check("status before setup: needsSetup true", (s, b) == (200, {"needsSetup": True}), f"{s} {b}")
    admin = {"email": "admin@example.com", "password": "correct horse battery", "first_name": "Ada", "last_name": "Admin"}
    for field in admin:
        s, b = request(base, "POST", "/v1/auth/setup", {k: v for k, v in admin.items() if k != field})
        check(f"setup without {field}: 400 text", s == 400 and message("Email, password, and name are required")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/setup", admin)
    check("setup: 201", s == 201, f"{s} {b}")
    user = (b or {}).get("user") or {}
    check("setup: {accessToken, user}", isinstance(b, dict) and set(b) >= {"accessToken", "user"}, f"{b}")
    check("setup: user keys", set(user) == USER_KEYS, f"{sorted(user)}")
    check("setup: role keys", isinstance(user.get("role"), dict) and set(user["role"]) == ROLE_KEYS, f"{user.get('role')}")
    check("setup: no password in the user", "password" not in json.dumps(b), "")
    claims = verify_hs256((b or {}).get("accessToken", "x.y.z"), SECRET)
    check("setup token verifies with the shared secret", claims is not None, "")
    if claims:
        check("token claims", {"sub", "email", "roles", "iat", "exp"} <= set(claims) and claims["roles"] == ["Super Admin"], f"{claims}")
    s, b = request(base, "POST", "/v1/auth/setup", admin | {"email": "other@example.com"})
    check("setup again: 403 text", s == 403 and message("Setup has already been completed.")(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/auth/status")
    check("status after setup: needsSetup false", (s, b) == (200, {"needsSetup": False}), f"{s} {b}")

    s, b = request(base, "POST", "/v1/auth/login", {"email": admin["email"]})
    check("login without password: 400 message (+ error object)", s == 400 and login_message("Email and password are required")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": admin["email"], "password": "wrong password!"})
    check("login wrong password: 401 message (+ error object)", s == 401 and login_message("Invalid credentials")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": "nobody@example.com", "password": "wrong password!"})
    check("login unknown email: 401 message (+ error object)", s == 401 and login_message("Invalid credentials")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": admin["email"], "password": admin["password"]})
    check("login: 200 {accessToken, user}", s == 200 and isinstance(b, dict) and set(b) >= {"accessToken", "user"}, f"{s} {b}")
    token = (b or {}).get("accessToken", "")
    check("login token verifies", verify_hs256(token, SECRET) is not None, "")

    s, b = request(base, "GET", "/v1/users/profile")
    check("profile without token: 401 text", s == 401 and message("Unauthorized: No token provided")(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/users/profile", token="garbage")
    check("profile with a bad token: 401 text", s == 401 and message("Unauthorized: Invalid token")(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/users/profile", token=token)
    check("profile: 200 user", s == 200 and isinstance(b, dict) and set(b) == USER_KEYS, f"{s} {b}")

    administration(base, token, admin)


def login(base: str, email: str, password: str) -> str:
    s, b = request(base, "POST", "/v1/auth/login", {"email": email, "password": password})
    return (b or {}).get("accessToken", "") if s == 200 and isinstance(b, dict) else ""


def administration(base: str, token: str, admin: dict) -> None:
    """Users and roles: who may read and manage them, and the answers."""
    # The predefined roles, by slug.
    s, b = request(base, "GET", "/v1/iam/roles", token=token)
    check("roles (Super Admin): 200 array of roles", s == 200 and isinstance(b, list)
          and all(isinstance(r, dict) and set(r) == ROLE_KEYS for r in b), f"{s} {b}")
    roles = {r.get("slug"): r for r in b} if isinstance(b, list) else {}
    for slug in ("predefined_super_admin", "predefined_end_user", "predefined_read_only_user"):
        check(f"roles list has {slug}", slug in roles, f"{sorted(roles)}")
    end_role = (roles.get("predefined_end_user") or {}).get("id", UNKNOWN_ID)
    read_role = (roles.get("predefined_read_only_user") or {}).get("id", UNKNOWN_ID)
    super_role = (roles.get("predefined_super_admin") or {}).get("id", UNKNOWN_ID)

    # Listing users.
    s, b = request(base, "GET", "/v1/users")
    check("users without token: 401 text", s == 401 and message("Unauthorized: No token provided")(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/users", token=token)
    check("users (Super Admin): 200 array", s == 200 and isinstance(b, list) and len(b) == 1, f"{s} {b}")
    if isinstance(b, list) and b:
        problem = user_object_problem(b[0])
        check("users (Super Admin): user objects", problem == "", problem)
        check("users (Super Admin): the admin with Super Admin",
              b[0].get("email") == admin["email"] and role_slug(b[0]) == "predefined_super_admin", f"{b[0]}")
    admin_id = b[0].get("id") if isinstance(b, list) and b and isinstance(b[0], dict) else UNKNOWN_ID

    # Creating users (Super Admin).
    eve = {"email": "eve@example.com", "password": "eve's long password", "first_name": "Eve", "last_name": "User"}
    rita = {"email": "rita@example.com", "password": "rita's long password", "first_name": "Rita", "last_name": "Reader"}
    for field in ("email", "password", "first_name", "last_name"):
        s, b = request(base, "POST", "/v1/users", {k: v for k, v in eve.items() if k != field} | {"roleId": end_role}, token=token)
        check(f"create user without {field}: 400 message", s == 400 and any_message(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/users", eve | {"roleId": UNKNOWN_ID}, token=token)
    check("create user with an unknown roleId: 400 text", s == 400 and message("Role not found.")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/users", eve | {"password": "short"}, token=token)
    check("create user with a 5-character password: 400 message", s == 400 and any_message(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/users", token=token)
    check("refused creations wrote nothing", s == 200 and isinstance(b, list) and len(b) == 1, f"{s} {b}")

    s, b = request(base, "POST", "/v1/users", eve | {"roleId": end_role}, token=token)
    problem = user_object_problem(b)
    check("create End user: 201", s == 201, f"{s} {b}")
    check("create End user: user object", problem == "", problem)
    check("create End user: role End user, names as given",
          role_slug(b) == "predefined_end_user" and isinstance(b, dict) and b.get("email") == eve["email"]
          and b.get("first_name") == "Eve" and b.get("last_name") == "User", f"{b}")
    eve_id = (b or {}).get("id", UNKNOWN_ID) if isinstance(b, dict) else UNKNOWN_ID
    s, b = request(base, "POST", "/v1/users", rita | {"roleId": read_role}, token=token)
    check("create Read only user: 201 user object", s == 201 and user_object_problem(b) == "", f"{s} {b}")
    check("create Read only user: role Read only", role_slug(b) == "predefined_read_only_user", f"{b}")
    rita_id = (b or {}).get("id", UNKNOWN_ID) if isinstance(b, dict) else UNKNOWN_ID
    s, b = request(base, "POST", "/v1/users", eve | {"roleId": end_role}, token=token)
    check("create user with a taken email: 400 message", s == 400 and any_message(s, b), f"{s} {b}")

    eve_token = login(base, eve["email"], eve["password"])
    rita_token = login(base, rita["email"], rita["password"])
    check("created users can log in", bool(eve_token) and bool(rita_token), "")

    # Reading users needs `read users`.
    s, b = request(base, "GET", "/v1/users", token=eve_token)
    check("users (End user): 403 text", s == 403 and message(NO_PERMISSION)(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/users", token=rita_token)
    check("users (Read only): 200 array of 3 user objects", s == 200 and isinstance(b, list) and len(b) == 3
          and all(user_object_problem(u) == "" for u in b), f"{s} {b}")
    if isinstance(b, list):
        check("users (Read only): the three emails",
              sorted(u.get("email") for u in b if isinstance(u, dict)) == sorted([admin["email"], eve["email"], rita["email"]]), f"{b}")
    s, b = request(base, "GET", f"/v1/users/{eve_id}", token=token)
    check("user by id (Super Admin): 200 user object", s == 200 and user_object_problem(b) == "" and b.get("id") == eve_id, f"{s} {b}")
    s, b = request(base, "GET", f"/v1/users/{eve_id}", token=rita_token)
    check("user by id (Read only): 200 user object", s == 200 and user_object_problem(b) == "", f"{s} {b}")
    s, b = request(base, "GET", f"/v1/users/{admin_id}", token=eve_token)
    check("user by id (End user): 403 text", s == 403 and message(NO_PERMISSION)(s, b), f"{s} {b}")
    s, b = request(base, "GET", f"/v1/users/{UNKNOWN_ID}", token=token)
    check("unknown user by id: 404 text", s == 404 and message("User not found")(s, b), f"{s} {b}")

    # Managing users needs manage/all.
    other = {"email": "mallory@example.com", "password": "mallory's password", "first_name": "Mal", "last_name": "Lory"}
    for who, tok in (("Read only", rita_token), ("End user", eve_token)):
        s, b = request(base, "POST", "/v1/users", other, token=tok)
        check(f"create user ({who}): 403 text", s == 403 and message(MANAGE_USERS)(s, b), f"{s} {b}")
        s, b = request(base, "PUT", f"/v1/users/{eve_id}", {"first_name": "Hacked", "roleId": super_role}, token=tok)
        check(f"update user ({who}): 403 text", s == 403 and message(MANAGE_USERS)(s, b), f"{s} {b}")
    s, b = request(base, "GET", f"/v1/users/{eve_id}", token=token)
    check("refused updates changed nothing", s == 200 and isinstance(b, dict) and b.get("first_name") == "Eve"
          and role_slug(b) == "predefined_end_user", f"{s} {b}")
    s, b = request(base, "PUT", f"/v1/users/{UNKNOWN_ID}", {"first_name": "Nobody"}, token=token)
    check("update unknown user: 404 text", s == 404 and message("User not found")(s, b), f"{s} {b}")
    s, b = request(base, "PUT", f"/v1/users/{eve_id}", {"roleId": UNKNOWN_ID}, token=token)
    check("update user with an unknown roleId: 400 text", s == 400 and message("Role not found.")(s, b), f"{s} {b}")

    s, b = request(base, "PUT", f"/v1/users/{eve_id}", {"first_name": "Evelyn", "roleId": read_role}, token=token)
    check("update user (Super Admin): 200 user object", s == 200 and user_object_problem(b) == "", f"{s} {b}")
    check("update user: new name and role Read only", isinstance(b, dict) and b.get("first_name") == "Evelyn"
          and b.get("last_name") == "User" and role_slug(b) == "predefined_read_only_user", f"{b}")
    s, b = request(base, "GET", "/v1/users", token=eve_token)
    check("the new role decides the next request (Read only may list)", s == 200 and isinstance(b, list), f"{s} {b}")
    s, b = request(base, "PUT", f"/v1/users/{eve_id}", {"roleId": end_role}, token=token)
    check("update user back to End user: 200", s == 200 and role_slug(b) == "predefined_end_user", f"{s} {b}")
    s, b = request(base, "GET", "/v1/users", token=eve_token)
    check("End user again: 403 text", s == 403 and message(NO_PERMISSION)(s, b), f"{s} {b}")

    # One's own profile and password.
    s, b = request(base, "PATCH", "/v1/users/profile", {"first_name": "Eva", "last_name": "Userin"}, token=eve_token)
    check("update own profile: 200 user object", s == 200 and user_object_problem(b) == "", f"{s} {b}")
    check("update own profile: new names, same email", isinstance(b, dict) and b.get("first_name") == "Eva"
          and b.get("last_name") == "Userin" and b.get("email") == eve["email"], f"{b}")
    s, b = request(base, "GET", "/v1/users/profile", token=eve_token)
    check("profile shows the new names", s == 200 and isinstance(b, dict) and (b.get("first_name"), b.get("last_name")) == ("Eva", "Userin"), f"{s} {b}")
    s, b = request(base, "PATCH", "/v1/users/profile", {"first_name": "Eva", "last_name": "Userin"})
    check("update own profile without token: 401 text", s == 401 and message("Unauthorized: No token provided")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/users/profile/password",
                   {"currentPassword": "not the password", "newPassword": "eve's new password"}, token=eve_token)
    check("change password, wrong current: 400 exact body", s == 400 and b == {"message": "Invalid current password"}, f"{s} {b}")
    new_password = "eve's new password"
    s, b = request(base, "POST", "/v1/users/profile/password",
                   {"currentPassword": eve["password"], "newPassword": new_password}, token=eve_token)
    check("change password: 200 exact body", s == 200 and b == {"message": "Password updated successfully"}, f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": eve["email"], "password": eve["password"]})
    check("old password no longer logs in: 401", s == 401 and login_message("Invalid credentials")(s, b), f"{s} {b}")
    eve_token = login(base, eve["email"], new_password)
    check("new password logs in", bool(eve_token), "")

    # Defining roles needs manage/all.
    auditor = {"name": "Archive Auditor", "policies": [{"action": ["read", "search"], "subject": "archive"}]}
    for who, tok in (("Read only", rita_token), ("End user", eve_token)):
        s, b = request(base, "POST", "/v1/iam/roles", auditor, token=tok)
        check(f"create role ({who}): 403 text", s == 403 and message(MANAGE_ROLES)(s, b), f"{s} {b}")
        s, b = request(base, "PUT", f"/v1/iam/roles/{end_role}", {"name": "Renamed"}, token=tok)
        check(f"update role ({who}): 403 text", s == 403 and message(MANAGE_ROLES)(s, b), f"{s} {b}")
        s, b = request(base, "DELETE", f"/v1/iam/roles/{end_role}", token=tok)
        check(f"delete role ({who}): 403 text", s == 403 and message(MANAGE_ROLES)(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/iam/roles", auditor, token=token)
    check("create role (Super Admin): 201 role", s == 201 and isinstance(b, dict) and set(b) == ROLE_KEYS, f"{s} {b}")
    check("created role: slug from the name", isinstance(b, dict) and b.get("slug") == "archive_auditor"
          and b.get("name") == auditor["name"], f"{b}")
    custom_id = (b or {}).get("id", UNKNOWN_ID) if isinstance(b, dict) else UNKNOWN_ID
    s, b = request(base, "PUT", f"/v1/iam/roles/{custom_id}", {}, token=token)
    check("update role with nothing: 400 text", s == 400 and message("Missing fields to update: name or policies.")(s, b), f"{s} {b}")
    s, b = request(base, "DELETE", f"/v1/iam/roles/{end_role}", token=token)
    check("delete a predefined role: 400 text", s == 400 and message("Predefined roles cannot be changed or deleted.")(s, b), f"{s} {b}")
    s, b = request(base, "GET", "/v1/iam/roles", token=token)
    check("the predefined role is still there", s == 200 and isinstance(b, list)
          and any(isinstance(r, dict) and r.get("id") == end_role for r in b), f"{s} {b}")
    s, b = request(base, "DELETE", f"/v1/iam/roles/{custom_id}", token=token)
    check("delete the defined role: 204", s == 204, f"{s} {b}")
    s, b = request(base, "GET", f"/v1/iam/roles/{custom_id}", token=token)
    check("deleted role: 404 text", s == 404 and message("Role not found.")(s, b), f"{s} {b}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    args = parser.parse_args()
    if not Path(args.eventauth_bin).exists():
        subprocess.run(["cargo", "build"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = dict(os.environ, EVENTAUTH_DATA_DIR=data, EVENTAUTH_ADDR=f"127.0.0.1:{port}",
                   EVENTAUTH_OPENARCHIVER_JWT_SECRET=SECRET,
                   # The sequences exceed Open Archiver's 100 requests a minute.
                   EVENTAUTH_OPENARCHIVER_RATE_LIMIT="0")
        env.pop("DATABASE_URL", None)
        env.pop("NATS_URL", None)
        server = subprocess.Popen([args.eventauth_bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            scenario(base)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"\n{len(passed)} passed, {len(failures)} failed" + ("" if failures else ": all checks pass"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
