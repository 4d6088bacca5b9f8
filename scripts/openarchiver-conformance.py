#!/usr/bin/env python3
"""Open Archiver wire-conformance check for eventauth's Open Archiver surface.

Open Archiver itself needs PostgreSQL, Meilisearch, Redis and Node to run, so
this script checks eventauth against what the seeds README states Open
Archiver answers (read from its source: ../shared/seeds/README.md): status
codes, error texts, the key sets and JSON types of bodies, and the HS256
token its front end verifies with the shared JWT_SECRET (checked here with
nothing but that secret and the standard library).

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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "conformance-shared-jwt-secret"
USER_KEYS = {"id", "email", "first_name", "last_name", "provider", "providerId", "createdAt", "updatedAt", "role"}
ROLE_KEYS = {"id", "name", "slug", "policies", "createdAt", "updatedAt"}

failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  ({detail})"))
    if not ok:
        failures.append(name)


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
    check("login without password: 400 text", s == 400 and message("Email and password are required")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": admin["email"], "password": "wrong password!"})
    check("login wrong password: 401 text", s == 401 and message("Invalid credentials")(s, b), f"{s} {b}")
    s, b = request(base, "POST", "/v1/auth/login", {"email": "nobody@example.com", "password": "wrong password!"})
    check("login unknown email: 401 text", s == 401 and message("Invalid credentials")(s, b), f"{s} {b}")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    args = parser.parse_args()
    if not Path(args.eventauth_bin).exists():
        subprocess.run(["cargo", "build"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = dict(os.environ, EVENTAUTH_DATA_DIR=data, EVENTAUTH_ADDR=f"127.0.0.1:{port}",
                   EVENTAUTH_OPENARCHIVER_JWT_SECRET=SECRET)
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
    print(f"\n{len(failures)} failed" if failures else "\nall checks pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
