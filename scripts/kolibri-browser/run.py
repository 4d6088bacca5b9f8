#!/usr/bin/env python3
"""Kolibri 0.19.5 behind eventauth, driven in a real browser (by hand, not CI).

Sets up, in one temporary directory:
  - a virtualenv with Kolibri 0.19.5 and the eventauth_kolibri plugin
    (integrations/kolibri), a provisioned Kolibri home (facility "Home",
    superuser kadmin), the plugin enabled;
  - eventauth (target/debug/eventauth, embedded SQLite) with Kolibri's facility
    id, users made with its CLI, an introspection client for the plugin and
    nginx trusted as a proxy;
  - Kolibri on 127.0.0.1:8081 (--kolibri-port), eventauth on 127.0.0.1:8080
    (--eventauth-port), nginx with deploy/kolibri/nginx.conf on 127.0.0.1 and
    on a non-loopback address of this machine;
then runs browse.mjs (playwright-core + Debian's Chromium), which signs people
in and out through Kolibri's own front end and saves a screenshot per step.

    python3 scripts/kolibri-browser/run.py [--out DIR] [--keep]

See scripts/kolibri-browser/README.md. Python 3.9+ standard library only.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN = REPO / "integrations" / "kolibri"
RECIPE = REPO / "deploy" / "kolibri" / "nginx.conf"
KOLIBRI_VERSION = "0.19.5"
WHEELS = [Path("/tmp/kw/kolibri-0.19.5-py2.py3-none-any.whl"), Path("/tmp/kol/kolibri-0.19.5-py2.py3-none-any.whl")]
PLAYWRIGHT = "playwright-core@1.65.2"

FACILITY = "Home"
K_SUPERUSER = ("kadmin", "kadminpass")  # Kolibri's own, from provisiondevice
USERS = {
    # eventauth users: username -> (password, full name, CLI extras)
    "ada": ("adapass1", "Ada Lovelace", []),
    # signs in without a password once the facility lets learners do so (a
    # user without one cannot be made in a facility that needs passwords)
    "bea": ("beapass1", "Bea Nopass", []),
    "boss": ("bosspass1", "Bo Boss", ["--role", "admin"]),
    "root": ("rootpass1", "Ro Root", ["--superuser"]),
    # a facility coach, assigned to a class through Facility > Classes (classes section)
    "teach": ("teachpass1", "Tea Cher", ["--role", "coach"]),
}

procs = []


def log(*a):
    print("[run]", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port, host="127.0.0.1"):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def run(cmd, env=None, timeout=900, what=None, cwd=None):
    p = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit("{} failed ({}):\n{}\n{}".format(what or cmd[0], p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def start(cmd, env, logfile, cwd=None):
    f = open(logfile, "w")
    p = subprocess.Popen([str(c) for c in cmd], env=env, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    procs.append(p)
    return p


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in reversed(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_http(url, timeout, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(url, timeout=3).read()
            return True
        except urllib.error.HTTPError:
            return True
        except Exception:
            time.sleep(0.5)
    return False


def non_loopback_address(wanted):
    """An IPv4 address of this machine that is not loopback (for the plain-HTTP
    check: Chromium treats http://127.0.0.1 as secure and keeps Secure cookies
    there, so only another address shows the difference)."""
    if wanted:
        return wanted
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
        for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
            if not m.group(1).startswith("127."):
                return m.group(1)
    except FileNotFoundError:
        pass
    # None: make one on a dummy interface (needs root / CAP_NET_ADMIN).
    addr = "10.213.7.1"
    for cmd in (["ip", "link", "add", "eaproxy0", "type", "dummy"], ["ip", "addr", "add", addr + "/32", "dev", "eaproxy0"],
                ["ip", "link", "set", "eaproxy0", "up"]):
        subprocess.run(cmd, capture_output=True)
    return addr


# ----------------------------------------------------------------- Kolibri


def kolibri_env(home, extra=None):
    env = dict(os.environ)
    env.update({"KOLIBRI_HOME": str(home), "KOLIBRI_RUN_MODE": "eventauth-browser-test",
                "KOLIBRI_NO_FILE_BASED_LOGGING": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra or {})
    return env


def setup_kolibri(args, work):
    venv = Path(args.kolibri_venv) if args.kolibri_venv else work / "kolibri-venv"
    kolibri = venv / "bin" / "kolibri"
    pip = venv / "bin" / "pip"
    if not kolibri.exists():
        log("virtualenv + pip install kolibri", KOLIBRI_VERSION)
        run([sys.executable, "-m", "venv", venv], what="python -m venv")
        wheel = next((w for w in WHEELS if w.exists()), None)
        run([pip, "install", "-q", "--disable-pip-version-check", wheel or "kolibri==" + KOLIBRI_VERSION],
            what="pip install kolibri", timeout=1800)
    log("pip install the plugin from", PLUGIN)
    build = work / "plugin-build"
    shutil.copytree(PLUGIN, build, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    run([pip, "install", "-q", "--disable-pip-version-check", "--no-deps", "--force-reinstall", build],
        what="pip install eventauth_kolibri")
    home = work / "kolibri-home"
    home.mkdir(parents=True, exist_ok=True)
    env = kolibri_env(home)
    log("kolibri manage provisiondevice")
    run([kolibri, "manage", "provisiondevice", "--facility", FACILITY, "--preset", "nonformal",
         "--superusername", K_SUPERUSER[0], "--superuserpassword", K_SUPERUSER[1], "--language_id", "en",
         "--verbosity", "0", "--noinput"], env=env, what="provisiondevice", timeout=1800)
    log("kolibri plugin enable eventauth_kolibri")
    run([kolibri, "plugin", "enable", "eventauth_kolibri"], env=env, what="plugin enable")
    out = run([kolibri, "manage", "shell", "-c",
               "from kolibri.core.auth.models import Facility;print('FACILITY', Facility.get_default_facility().id)"],
              env=env, what="manage shell")
    facility = re.search(r"FACILITY ([0-9a-f]{32})", out).group(1)
    return kolibri, home, facility


# --------------------------------------------------------------- eventauth


def setup_eventauth(args, work, facility, client):
    # Absolute: the browser script runs the CLI from its own directory.
    binary = Path(args.eventauth_bin).resolve()
    if not binary.exists():
        raise SystemExit("no eventauth binary at {} (cargo build, or --eventauth-bin)".format(binary))
    data = work / "eventauth-data"
    data.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update({
        "EVENTAUTH_DATA_DIR": str(data),
        "EVENTAUTH_ADDR": "127.0.0.1:{}".format(args.eventauth_port),
        "EVENTAUTH_COOKIE_SECURE": "auto",
        "EVENTAUTH_TRUSTED_PROXIES": "127.0.0.1/32",
        "EVENTAUTH_INTROSPECTION_CLIENTS": client,
        "EVENTAUTH_LOG_FORMAT": "json",
    })

    def cli(*a):
        return run([binary, *a], env=env, what="eventauth " + " ".join(a[:2]))

    log("eventauth collection create --id", facility)
    out = cli("collection", "create", "--kind", "facility", "--name", FACILITY, "--preset", "nonformal", "--id", facility)
    got = re.findall(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", out)
    if not got or got[-1].replace("-", "") != facility:
        raise SystemExit("eventauth did not create the facility with Kolibri's id: " + out)
    ids = {}
    for username, (password, full, extra) in USERS.items():
        a = ["facility-user", "create", "--facility", facility, "--username", username, "--full-name", full, *extra]
        if password:
            a += ["--password", password]
        out = cli(*a)
        ids[username] = re.findall(r"[0-9a-f-]{32,36}", out)[-1].replace("-", "")
    log("eventauth serve on 127.0.0.1:{}".format(args.eventauth_port))
    proc = start([binary, "serve"], env, work / "eventauth.log")
    if not wait_http("http://127.0.0.1:{}/.well-known/jwks.json".format(args.eventauth_port), 120, proc):
        raise SystemExit("eventauth did not start: see " + str(work / "eventauth.log"))
    return binary, env, ids


# -------------------------------------------------------------------- nginx


def setup_nginx(args, work, addresses):
    recipe = RECIPE.read_text()
    listens = "\n".join("    listen {}:{};".format(a, args.port) for a in addresses)
    site, n = re.subn(r"^\s*listen 80;.*$", listens, recipe, flags=re.M)
    assert n == 1, "the recipe's `listen 80;` line moved"
    site = re.sub(r"server 127\.0\.0\.1:8080;", "server 127.0.0.1:{};".format(args.eventauth_port), site)
    site = re.sub(r"server 127\.0\.0\.1:8081;", "server 127.0.0.1:{};".format(args.kolibri_port), site)
    ndir = work / "nginx"
    for d in ("tmp", "logs"):
        (ndir / d).mkdir(parents=True, exist_ok=True)
    (ndir / "site.conf").write_text(site)
    (ndir / "nginx.conf").write_text("""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/site.conf;
}}
""".format(d=ndir))
    run(["nginx", "-t", "-p", ndir, "-c", ndir / "nginx.conf"], what="nginx -t")
    proc = start(["nginx", "-p", ndir, "-c", ndir / "nginx.conf"], None, work / "nginx.log")
    if not wait_http("http://127.0.0.1:{}/api/auth/facility/".format(args.port), 30, proc):
        raise SystemExit("nginx did not start: see " + str(ndir / "logs" / "error.log"))


MIRROR_SNIPPET = r"""
import json
from kolibri.core.auth.models import FacilityUser, Role
rows = [{"id": u.id, "username": u.username, "full_name": u.full_name, "facility": u.facility_id,
         "superuser": bool(u.is_superuser), "usable_password": u.has_usable_password(),
         "roles": sorted(Role.objects.filter(user=u).values_list("kind", flat=True))}
        for u in FacilityUser.objects.all().order_by("username")]
print("MIRROR " + json.dumps(rows))
"""


def check_mirror(kolibri, home, ids, out):
    """Kolibri's FacilityUser rows after the run: the users who signed in
    have eventauth's ids, roles and superuser flag, and no usable password."""
    text = run([kolibri, "manage", "shell", "-c", MIRROR_SNIPPET], env=kolibri_env(home), what="manage shell")
    rows = json.loads(re.search(r"^MIRROR (.*)$", text, re.M).group(1))
    (out / "kolibri-users.json").write_text(json.dumps(rows, indent=2))
    by_name = {r["username"]: r for r in rows}
    expect = {"ada": ([], False), "bea": ([], False), "boss": (["admin"], False), "root": (["admin"], True)}
    names = {"ada": "Ada King"}  # changed in the browser (lan section)
    ok = True
    for username, (roles, superuser) in expect.items():
        r = by_name.get(username)
        good = bool(r) and r["id"] == ids[username] and r["roles"] == roles and r["superuser"] == superuser \
            and not r["usable_password"] and r["full_name"] == names.get(username, USERS[username][1])
        ok = ok and good
        log("mirror {}: {}".format(username, "ok" if good else "WRONG: {} (eventauth id {})".format(r, ids[username])))
    log("mirror newkid (signed up in the browser):", "ok" if "newkid" in by_name else "MISSING")
    return ok and "newkid" in by_name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="screenshots and logs (default: a new /tmp/kolibri-browser-*)")
    ap.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    ap.add_argument("--kolibri-venv", help="reuse (or create) this virtualenv for Kolibri")
    ap.add_argument("--eventauth-port", type=int, default=8080)
    ap.add_argument("--kolibri-port", type=int, default=8081)
    ap.add_argument("--port", type=int, default=8000, help="nginx's port")
    ap.add_argument("--address", help="the non-loopback address for nginx (default: this machine's first, "
                    "else 10.213.7.1 on a dummy interface)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--headed", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the servers running after the browser run (Ctrl-C ends)")
    args = ap.parse_args()

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="kolibri-browser-"))
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    for stale in ("kolibri-home", "eventauth-data", "nginx", "plugin-build"):  # a re-used --out starts afresh
        shutil.rmtree(work / stale, ignore_errors=True)
    for port in (args.eventauth_port, args.kolibri_port, args.port):
        if not port_free(port):
            raise SystemExit("port {} is taken".format(port))
    for tool in ("nginx", "node", "npm", args.chromium):
        if not shutil.which(tool):
            raise SystemExit("{} is missing (apt-get install -y nginx nodejs npm chromium)".format(tool))
    # SIGTERM (and SIGINT, even where a shell ignores it for background jobs)
    # ends the run through the `finally` below, which stops the servers
    def _end(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _end)
    signal.signal(signal.SIGINT, _end)
    address = non_loopback_address(args.address)
    log("output in", out, "; non-loopback address", address)
    try:
        kolibri, home, facility = setup_kolibri(args, work)
        client = "kolibri:" + secrets.token_hex(16)
        binary, ea_env, ids = setup_eventauth(args, work, facility, client)
        log("kolibri start --port", args.kolibri_port)
        kenv = kolibri_env(home, {"EVENTAUTH_URL": "http://127.0.0.1:{}".format(args.eventauth_port),
                                  "EVENTAUTH_INTROSPECTION_CLIENT": client,
                                  "KOLIBRI_LISTEN_ADDRESS": "127.0.0.1",
                                  # so that browse.mjs sees a name change reach Kolibri quickly
                                  "EVENTAUTH_USER_SYNC_SECONDS": "5"})
        kproc = start([kolibri, "start", "--foreground", "--port", args.kolibri_port, "--zip-port", free_port()],
                      kenv, work / "kolibri.log")
        if not wait_http("http://127.0.0.1:{}/api/public/v1/facility/".format(args.kolibri_port), 600, kproc):
            raise SystemExit("Kolibri did not start: see " + str(work / "kolibri.log"))
        setup_nginx(args, work, ["127.0.0.1", address])

        node = work / "node"
        node.mkdir(exist_ok=True)
        if not (node / "node_modules" / "playwright-core").exists():
            log("npm install", PLAYWRIGHT)
            run(["npm", "install", "--prefix", node, "--no-audit", "--no-fund", PLAYWRIGHT], what="npm install")
        shutil.copy(HERE / "browse.mjs", node / "browse.mjs")
        context = {
            "base": "http://127.0.0.1:{}".format(args.port),
            "lan": "http://{}:{}".format(address, args.port),
            "kolibri": "http://127.0.0.1:{}".format(args.kolibri_port),
            "eventauth": "http://127.0.0.1:{}".format(args.eventauth_port),
            "out": str(out),
            "chromium": args.chromium,
            "headed": args.headed,
            "facility": facility,
            "users": {u: {"password": p, "full_name": f, "id": ids[u]} for u, (p, f, _) in USERS.items()},
            "kolibri_superuser": {"username": K_SUPERUSER[0], "password": K_SUPERUSER[1]},
            # browse.mjs asks for these between steps (facility settings via the CLI)
            "settings_cmd": [str(binary), "collection", "settings", "--facility", facility],
        }
        (work / "context.json").write_text(json.dumps(context, indent=2))
        log("node browse.mjs")
        env = dict(ea_env)
        env["BROWSE_CONTEXT"] = str(work / "context.json")
        p = subprocess.run(["node", node / "browse.mjs"], env=env, cwd=node)
        log("browser run finished with", p.returncode, "; results in", out / "results.json")
        mirror_ok = check_mirror(kolibri, home, ids, out) if not os.environ.get("ONLY") else True
        if args.keep:
            log("servers still running: nginx http://127.0.0.1:{0} and http://{1}:{0}; Ctrl-C ends".format(args.port, address))
            while True:
                time.sleep(3600)
        return p.returncode or (0 if mirror_ok else 1)
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
