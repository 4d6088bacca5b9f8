#!/usr/bin/env python3
"""SAML 2.0 interoperability check: eventauth's service provider against pysaml2 as the IdP.

The identity provider here is pysaml2 (https://github.com/IdentityPython/pysaml2),
which signs with the `xmlsec1` command (Debian package `xmlsec1`): the XML
signatures, their canonicalization, the response/assertion layout and the
validity windows (IssueInstant, NotBefore, NotOnOrAfter) all come from
software eventauth did not write. Nothing in a response is hand-built except
the one deliberate tamper in step 6.

At run time the script, in a temporary directory,
  * makes two RSA-2048 key pairs with `openssl req -x509` (the IdP's, and a
    rogue one eventauth is never told about);
  * writes SP metadata for eventauth (its entity id and ACS URL) plus a second
    SP ("https://other-sp.example.test/sp") for the wrong-audience step, and
    loads both into a pysaml2 `Server` (entity id https://idp.example.test/idp,
    SSO endpoint https://idp.example.test/idp/sso/redirect, HTTP-Redirect);
  * writes the IdP's metadata as pysaml2 generates it (`entity_descriptor`).

eventauth (`eventauth serve`, embedded SQLite in a temporary EVENTAUTH_DATA_DIR,
inherited EVENTAUTH_* / DATABASE_URL / NATS_URL removed, RUST_LOG=info with its
output kept to read the "SAML response refused" reasons) is started twice:

  [metadata]  EVENTAUTH_SAML_IDP_METADATA=<pysaml2's IdP metadata file>
  [cert-env]  EVENTAUTH_SAML_IDP_CERT + EVENTAUTH_SAML_IDP_SSO_URL + EVENTAUTH_SAML_IDP_ENTITY_ID

both with EVENTAUTH_SAML_SP_ENTITY_ID=https://sp.example.test/eventauth,
EVENTAUTH_SAML_ACS_URL=http://127.0.0.1:<port>/api/auth/jwt and
EVENTAUTH_DOUBTFIRE_FRONTEND_URL=https://df.example.test.

Steps (each run):
  1. GET /api/auth/method -> {"method": "saml", "redirect_to": <SSO URL>?SAMLRequest=...};
     pysaml2's IdP parses the AuthnRequest (HTTP-Redirect binding): our ACS
     URL, our SP entity id, the POST binding, the emailAddress NameID policy.
  2. pysaml2 answers that request (SHA-256 RSA signatures, emailAddress NameID,
     givenName / sn / mail / role="Staff" attributes), POSTed as SAMLResponse
     to /api/auth/jwt -> 303 https://df.example.test/#/sign_in?authToken=&username=;
     POST /api/auth {username, auth_token} -> 201, system_role "Tutor";
     GET /api/users/<id> with Auth-Token/Username -> 200. Three layouts:
     assertion signed only; response signed only; both signed. The one-time
     token exchanges only once (a second exchange is 419).
  3. The first response again (a replay) -> 401 {"error": "Invalid SAML response."}.
  4. A response pysaml2 signs with the rogue key -> 401.
  5. A response pysaml2 makes for another SP (audience) -> 401.
  6. A signed response whose NameID is changed after signing -> 401.
  7. A response signed with RSA-SHA1 / SHA-1 digests -> 401 (by design:
     docs/doubtfire.md says eventauth's SHA-1 algorithms are off). Note that
     SHA-1 is pysaml2's own default (saml2.xmldsig sig_default/digest_default)
     when an IdP config sets no signing_algorithm/digest_algorithm; the IdP
     here sets SHA-256 for every other step.
  8. A response pysaml2 makes with a lifetime that ended 60 s ago (its
     policy "lifetime": Conditions and SubjectConfirmationData NotOnOrAfter)
     -> 401.
Each refusal must also carry the expected reason in eventauth's log, so a
step cannot pass for an unrelated reason (e.g. a wrong destination).

Requirements: Python 3.11, `xmlsec1` and `openssl` on PATH (apt-get install
xmlsec1 openssl), and pysaml2 (`pip install -r scripts/saml-idp/requirements.txt`,
e.g. into /tmp/saml-venv). Usage:

    python3 -m venv /tmp/saml-venv && /tmp/saml-venv/bin/pip install -r scripts/saml-idp/requirements.txt
    python3 scripts/saml-idp/check.py [--venv /tmp/saml-venv] [--eventauth-bin target/debug/eventauth]
                                      [--show-xml] [--keep]

Without pysaml2 importable, the script re-runs itself with --venv's python
(default /tmp/saml-venv when it exists). Prints one line per step ("ok" or
"DIFF") and a summary; exits 1 when any step differs. With a DIFF for a
response eventauth refused, the refusal reason from its log and the XML it
was given are printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
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

REPO = Path(__file__).resolve().parents[2]
IDP_ID = "https://idp.example.test/idp"
IDP_SSO = "https://idp.example.test/idp/sso/redirect"
SP_ID = "https://sp.example.test/eventauth"
OTHER_SP_ID = "https://other-sp.example.test/sp"
FRONTEND = "https://df.example.test"
REFUSED = {"error": "Invalid SAML response."}
NO_AUTH = {"error": "No authentication details provided. Authentication is required to access this resource."}
EMAIL_FMT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

diffs: list[str] = []
oks: list[str] = []
SHOW_XML = False


def step(name: str, ok: bool, detail: str = "") -> bool:
    print(("ok   " if ok else "DIFF ") + name + ("" if ok else "\n       " + detail.replace("\n", "\n       ")))
    (oks if ok else diffs).append(name)
    return ok


# --------------------------------------------------------------------------- HTTP

class Response:
    def __init__(self, method, path, status, raw, headers):
        self.method, self.path, self.status, self.raw, self.headers = method, path, status, raw, headers
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw.decode(errors="replace")

    def __repr__(self) -> str:
        loc = self.headers.get("Location")
        return (f"{self.method} {self.path} -> {self.status}" + (f" Location: {loc}" if loc else "")
                + f" {self.raw.decode(errors='replace')[:300]!r}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    def __init__(self, base: str, log: Path):
        self.base, self.log = base, log
        self.opener = urllib.request.build_opener(NoRedirect)

    def call(self, method, path, body=None, form=None, headers=None) -> Response:
        data, hdrs = None, {"Accept": "application/json"}
        if body is not None:
            data, hdrs["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif form is not None:
            data, hdrs["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=30) as r:
                return Response(method, path, r.status, r.read(), r.headers)
        except urllib.error.HTTPError as e:
            return Response(method, path, e.code, e.read(), e.headers)

    def log_mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, mark: int) -> str:
        time.sleep(0.2)  # let the log line reach the file
        with open(self.log, "rb") as f:
            f.seek(mark)
            return strip_ansi(f.read().decode(errors="replace"))


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def refusal_lines(log: str) -> list[str]:
    """eventauth's "SAML response refused" / "SAML sign-on refused" lines as "message: reason"."""
    found = []
    for line in log.splitlines():
        if "refused" not in line or "SAML" not in line:
            continue
        try:  # the JSON log format
            fields = json.loads(line).get("fields", {})
            found.append(f"{fields.get('message')}: {fields.get('reason')}")
        except ValueError:  # the text format
            found.append(line.strip())
    return found


# --------------------------------------------------------------------------- the pysaml2 IdP

def openssl_pair(workdir: Path, name: str, cn: str) -> tuple[Path, Path]:
    key, cert = workdir / f"{name}.key", workdir / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
                    "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key, cert


def sp_metadata(acs_url: str) -> str:
    """Metadata for eventauth as an SP and for a second SP with the same ACS (audience step)."""
    def entity(entity_id: str) -> str:
        return (f'<md:EntityDescriptor entityID="{entity_id}">'
                f'<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
                f'AuthnRequestsSigned="false" WantAssertionsSigned="true">'
                f'<md:NameIDFormat>{EMAIL_FMT}</md:NameIDFormat>'
                f'<md:AssertionConsumerService Binding="{POST}" Location="{acs_url}" index="0" isDefault="true"/>'
                f'</md:SPSSODescriptor></md:EntityDescriptor>')
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
            + entity(SP_ID) + entity(OTHER_SP_ID) + '</md:EntitiesDescriptor>')


def idp_server(workdir: Path, key: Path, cert: Path, sp_md: Path, xmlsec: str, lifetime: dict | None = None):
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    conf = {
        "entityid": IDP_ID,
        "description": "pysaml2 test IdP for eventauth",
        "service": {"idp": {
            "name": "pysaml2 IdP",
            "endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {"lifetime": lifetime or {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_URI}},
            "want_authn_requests_signed": False,
        }},
        "key_file": str(key),
        "cert_file": str(cert),
        "metadata": {"local": [str(sp_md)]},
        "xmlsec_binary": xmlsec,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    cfg = IdPConfig()
    cfg.load(conf)
    # pysaml2 keeps an identity/session database (shelve) in the cwd when asked; keep it in workdir.
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        return Server(config=cfg), cfg
    finally:
        os.chdir(cwd)


def idp_metadata_xml(cfg) -> str:
    from saml2.metadata import entity_descriptor
    return str(entity_descriptor(cfg))


class IdP:
    """pysaml2's Server plus the bits of the run it answers for."""

    def __init__(self, server, acs_url: str, key_name: str):
        self.server, self.acs_url, self.key_name = server, acs_url, key_name

    def response(self, in_response_to: str | None, email: str, *, sign_assertion=False, sign_response=False,
                 sha1=False, sp_entity_id=SP_ID) -> str:
        """A base64 SAMLResponse as pysaml2 makes it (the HTTP-POST binding's encoding)."""
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
        from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

        first, last = email.split("@")[0].split(".")[0].title(), "Saml"
        identity = {"givenName": [first], "sn": [last], "mail": [email], "role": ["Staff"]}
        resp = self.server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=self.acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                   "authn_auth": IDP_ID},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
        )
        xml = str(resp)
        if "<saml:Assertion" not in xml and ":Assertion" not in xml:
            raise RuntimeError(f"pysaml2 made no assertion: {xml}")
        return base64.b64encode(xml.encode()).decode()


def xml_of(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def describe(xml: str) -> str:
    """Where the signatures are and with what algorithms (for the step names)."""
    sigs = re.findall(r'SignatureMethod Algorithm="([^"]+)"', xml)
    digs = re.findall(r'DigestMethod Algorithm="([^"]+)"', xml)
    return f"{len(sigs)} signature(s) {sorted({s.rsplit('#', 1)[-1] for s in sigs})} digests {sorted({d.rsplit('#', 1)[-1] for d in digs})}"


def signed_parts(xml: str) -> list[str]:
    """Which elements a ds:Signature is a child of, in document order (Response / Assertion)."""
    found = []
    for m in re.finditer(r"<(?:[\w-]+:)?(Response|Assertion)\b[^>]*>\s*(?:<(?:[\w-]+:)?Issuer\b[^>]*>[^<]*</(?:[\w-]+:)?Issuer>\s*)?<(?:[\w-]+:)?Signature\b", xml):
        found.append(m.group(1))
    return found


# --------------------------------------------------------------------------- the run

def refused(c: Client, name: str, saml_response: str, reason: str) -> None:
    """POST `saml_response`; expect 401 Invalid SAML response. and `reason` in the log's refusal line."""
    mark = c.log_mark()
    r = c.call("POST", "/api/auth/jwt", form={"SAMLResponse": saml_response})
    lines = refusal_lines(c.log_since(mark))
    why = lines[-1] if lines else "(no refusal line in the log)"
    ok = r.status == 401 and r.body == REFUSED and any(reason.lower() in l.lower() for l in lines)
    detail = f"{r!r}\neventauth log: {why}\nwanted 401 and a refusal naming {reason!r}"
    if r.status == 303:
        detail = "eventauth ACCEPTED it (signed the user in): " + detail
    if SHOW_XML and not ok:
        detail += "\nXML:\n" + xml_of(saml_response)
    step(f"{name}: 401 Invalid SAML response. [{why}]" if ok else f"{name}: 401 ({reason})", ok, detail)


def accepted(c: Client, name: str, saml_response: str, email: str, first: str) -> tuple[int | None, str | None]:
    """POST `saml_response`; expect the 303 and a working exchange. Returns (user id, token)."""
    mark = c.log_mark()
    r = c.call("POST", "/api/auth/jwt", form={"SAMLResponse": saml_response})
    loc = r.headers.get("Location") or ""
    prefix = FRONTEND + "/#/sign_in?"
    query = urllib.parse.parse_qs(loc[len(prefix):]) if loc.startswith(prefix) else {}
    one_time, username = (query.get("authToken") or [None])[0], (query.get("username") or [None])[0]
    ok = r.status == 303 and one_time is not None and username == email
    if not ok:
        why = refusal_lines(c.log_since(mark))
        step(f"{name}: POST /api/auth/jwt 303 to {prefix}authToken=…&username={email}", False,
             f"{r!r}\neventauth log: {why[-1] if why else '(no refusal line)'}\nrejected XML:\n{xml_of(saml_response)}")
        return None, None
    step(f"{name}: POST /api/auth/jwt 303 to {prefix}authToken=…&username={email}", True)
    r = c.call("POST", "/api/auth", {"username": username, "auth_token": one_time})
    b = r.body if isinstance(r.body, dict) else {}
    u = b.get("user") if isinstance(b.get("user"), dict) else {}
    tok = b.get("auth_token")
    step(f"{name}: POST /api/auth {{username, auth_token}} 201, system_role Tutor, names from the attributes",
         r.status == 201 and isinstance(tok, str) and u.get("system_role") == "Tutor" and u.get("email") == email
         and (u.get("first_name"), u.get("last_name")) == (first, "Saml"), repr(r))
    uid = u.get("id")
    r2 = c.call("POST", "/api/auth", {"username": username, "auth_token": one_time})
    step(f"{name}: the one-time token exchanges once (again: 419)", r2.status == 419 and r2.body == NO_AUTH, repr(r2))
    r = c.call("GET", f"/api/users/{uid}", headers={"Auth-Token": tok or "", "Username": username})
    step(f"{name}: GET /api/users/{uid} with Auth-Token/Username 200", r.status == 200 and isinstance(r.body, dict)
         and r.body.get("id") == uid and r.body.get("email") == email, repr(r))
    return uid, tok


def authn_request(c: Client, idp: IdP, label: str) -> str | None:
    """Step 1: the login URL and pysaml2's reading of its AuthnRequest; returns the request id."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    r = c.call("GET", "/api/auth/method")
    b = r.body if isinstance(r.body, dict) else {}
    url = b.get("redirect_to") or ""
    step(f"[{label}] GET /api/auth/method: method saml, redirect_to {IDP_SSO}?SAMLRequest=…",
         r.status == 200 and b.get("method") == "saml" and url.startswith(IDP_SSO + "?SAMLRequest="), repr(r))
    qs = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    enc = (qs.get("SAMLRequest") or [""])[0]
    try:
        req = idp.server.parse_authn_request(enc, BINDING_HTTP_REDIRECT)
    except Exception as e:  # pysaml2 raises many kinds
        step(f"[{label}] pysaml2 parses the AuthnRequest (HTTP-Redirect)", False, f"{type(e).__name__}: {e}\n{url}")
        return None
    m = req.message
    got = {"acs": m.assertion_consumer_service_url, "issuer": m.issuer.text if m.issuer else None,
           "binding": m.protocol_binding, "destination": m.destination,
           "nameid_format": m.name_id_policy.format if m.name_id_policy else None}
    want = {"acs": idp.acs_url, "issuer": SP_ID, "binding": BINDING_HTTP_POST, "destination": IDP_SSO,
            "nameid_format": EMAIL_FMT}
    step(f"[{label}] pysaml2 parses the AuthnRequest (HTTP-Redirect): ACS, issuer, POST binding, destination, emailAddress policy",
         got == want, f"got {got}\nwant {want}")
    # What pysaml2 itself would answer to (it resolves the ACS from the request and our SP metadata).
    resp_args = idp.server.response_args(m)
    step(f"[{label}] pysaml2 resolves the request's ACS to {idp.acs_url} (binding HTTP-POST)",
         resp_args.get("destination") == idp.acs_url and resp_args.get("binding") == BINDING_HTTP_POST
         and resp_args.get("sp_entity_id") == SP_ID, repr(resp_args))
    return m.id


def scenario(c: Client, idp: IdP, rogue: IdP, expired: IdP, label: str) -> None:
    req_id = authn_request(c, idp, label)
    alice = f"alice.{label}@example.test"
    bob = f"bob.{label}@example.test"

    # 2. Three layouts of a valid SHA-256 response.
    first = idp.response(req_id, alice, sign_assertion=True)
    xml = xml_of(first)
    step(f"[{label}] pysaml2 signed the assertion only ({describe(xml)})", signed_parts(xml) == ["Assertion"], xml)
    a_id, _ = accepted(c, f"[{label}] assertion signed", first, alice, "Alice")

    resp_signed = idp.response(req_id, alice, sign_response=True)
    xml = xml_of(resp_signed)
    step(f"[{label}] pysaml2 signed the response only ({describe(xml)})", signed_parts(xml) == ["Response"], xml)
    uid, _ = accepted(c, f"[{label}] response signed", resp_signed, alice, "Alice")
    step(f"[{label}] the second sign-on finds the same user (linked identity)", uid == a_id and uid is not None,
         f"{uid!r} vs {a_id!r}")

    both = idp.response(req_id, bob, sign_assertion=True, sign_response=True)
    xml = xml_of(both)
    step(f"[{label}] pysaml2 signed response and assertion ({describe(xml)})",
         signed_parts(xml) == ["Response", "Assertion"], xml)
    b_id, _ = accepted(c, f"[{label}] both signed (new user bob)", both, bob, "Bob")
    step(f"[{label}] bob is another user", b_id is not None and b_id != a_id, f"{b_id!r} vs {a_id!r}")

    # 3. Replay.
    refused(c, f"[{label}] replay of the first SAMLResponse", first, "Replayed")

    # 4. A different key.
    for kind, kw in (("assertion", {"sign_assertion": True}), ("response", {"sign_response": True})):
        refused(c, f"[{label}] {kind} signed by pysaml2 with a key eventauth does not trust",
                rogue.response(req_id, alice, **kw), "signature")

    # 5. Another audience (same destination and recipient: only the audience differs).
    other = idp.response(req_id, alice, sign_assertion=True, sp_entity_id=OTHER_SP_ID)
    xml = xml_of(other)
    step(f"[{label}] pysaml2's response for {OTHER_SP_ID} names that audience",
         f">{OTHER_SP_ID}</" in xml and f">{SP_ID}</" not in xml, xml)
    refused(c, f"[{label}] response for audience {OTHER_SP_ID}", other, "wrong audience")

    # 6. Tampered after signing: the NameID text.
    for kind, kw in (("assertion", {"sign_assertion": True}), ("response", {"sign_response": True})):
        xml = xml_of(idp.response(req_id, alice, **kw))
        tampered = re.sub(r"(<(?:[\w-]+:)?NameID\b[^>]*>)[^<]*(<)", rf"\g<1>mallory.{label}@example.test\2", xml, count=1)
        step(f"[{label}] NameID changed in the signed XML ({kind} signed)",
             tampered != xml and f">mallory.{label}@example.test<" in tampered, tampered)
        refused(c, f"[{label}] tampered NameID, {kind} signed", base64.b64encode(tampered.encode()).decode(),
                "signature")

    # 7. SHA-1 (refused by design).
    for kind, kw in (("assertion", {"sign_assertion": True}), ("response", {"sign_response": True})):
        sha1 = idp.response(req_id, f"carol.{label}@example.test", sha1=True, **kw)
        xml = xml_of(sha1)
        step(f"[{label}] pysaml2 signed the {kind} with SHA-1 ({describe(xml)})",
             "rsa-sha1" in xml and "xmldsig#sha1" in xml, xml)
        refused(c, f"[{label}] RSA-SHA1/SHA-1 {kind} signature (SHA-1 off by design)", sha1, "signature")

    # 8. A lifetime pysaml2 ended 60 s ago.
    old = expired.response(req_id, alice, sign_assertion=True)
    xml = xml_of(old)
    ends = sorted(set(re.findall(r'NotOnOrAfter="([^"]+)"', xml)))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    step(f"[{label}] pysaml2 made a response whose NotOnOrAfter {ends} is past (now {now})",
         bool(ends) and all(e < now for e in ends), xml)
    refused(c, f"[{label}] response whose lifetime ended 60 s ago", old, "no live bearer confirmation")


@contextmanager
def server(binary: str, workdir: Path, label: str, port: int, **extra: str):
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("EVENTAUTH_") and k not in ("DATABASE_URL", "NATS_URL", "RUST_LOG")}
        env.update(EVENTAUTH_DATA_DIR=data, EVENTAUTH_ADDR=f"127.0.0.1:{port}", RUST_LOG="info", NO_COLOR="1", **extra)
        log = workdir / f"eventauth-{label}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([binary, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise SystemExit(f"eventauth exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
                    time.sleep(0.1)
            yield Client(base, log)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_pysaml2(venv: Path | None) -> None:
    try:
        import saml2  # noqa: F401
        return
    except ImportError:
        pass
    python = venv / "bin" / "python" if venv else None
    if python and python.exists() and Path(sys.prefix).resolve() != venv.resolve() \
            and not os.environ.get("SAML_IDP_CHECK_REEXEC"):
        os.environ["SAML_IDP_CHECK_REEXEC"] = "1"
        os.execv(str(python), [str(python), str(Path(__file__).resolve())] + sys.argv[1:])
    raise SystemExit("pysaml2 is not importable: pip install -r scripts/saml-idp/requirements.txt "
                     "(e.g. into /tmp/saml-venv and pass --venv /tmp/saml-venv)")


def main() -> int:
    global SHOW_XML
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventauth-bin", default=str(REPO / "target" / "debug" / "eventauth"))
    parser.add_argument("--venv", type=Path, default=Path("/tmp/saml-venv") if Path("/tmp/saml-venv").exists() else None,
                        help="a virtualenv with pysaml2, used when the running python lacks it (default /tmp/saml-venv if present)")
    parser.add_argument("--xmlsec1", default=shutil.which("xmlsec1") or "/usr/bin/xmlsec1")
    parser.add_argument("--show-xml", action="store_true", help="print the XML of a response a DIFF step sent")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (keys, metadata, eventauth logs)")
    args = parser.parse_args()
    SHOW_XML = args.show_xml
    ensure_pysaml2(args.venv)
    import warnings
    warnings.filterwarnings("ignore", module="saml2")  # pysaml2's CryptographyDeprecationWarning (CFB)
    import saml2
    if not Path(args.xmlsec1).exists():
        raise SystemExit("xmlsec1 not found: apt-get install xmlsec1")
    if not Path(args.eventauth_bin).exists():
        subprocess.run(["cargo", "build"], cwd=REPO, check=True)
    xmlsec_version = subprocess.run([args.xmlsec1, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"pysaml2 {saml2.__version__ if hasattr(saml2, '__version__') else '?'}, {xmlsec_version}")

    workdir = Path(tempfile.mkdtemp(prefix="saml-idp-check-"))
    try:
        key, cert = openssl_pair(workdir, "idp", "idp.example.test")
        rogue_key, rogue_cert = openssl_pair(workdir, "rogue", "idp.example.test")
        for label in ("metadata", "cert-env"):
            port = free_port()
            acs = f"http://127.0.0.1:{port}/api/auth/jwt"
            sp_md = workdir / f"sp-{label}.xml"
            sp_md.write_text(sp_metadata(acs))
            server_, cfg = idp_server(workdir, key, cert, sp_md, args.xmlsec1)
            rogue_server, _ = idp_server(workdir, rogue_key, rogue_cert, sp_md, args.xmlsec1)
            expired_server, _ = idp_server(workdir, key, cert, sp_md, args.xmlsec1, lifetime={"seconds": -60})
            idp_md = workdir / "idp-metadata.xml"
            idp_md.write_text(idp_metadata_xml(cfg))
            common = dict(EVENTAUTH_SAML_SP_ENTITY_ID=SP_ID, EVENTAUTH_SAML_ACS_URL=acs,
                          EVENTAUTH_DOUBTFIRE_FRONTEND_URL=FRONTEND)
            if label == "metadata":
                saml_env = dict(EVENTAUTH_SAML_IDP_METADATA=str(idp_md))
            else:
                saml_env = dict(EVENTAUTH_SAML_IDP_CERT=str(cert), EVENTAUTH_SAML_IDP_SSO_URL=IDP_SSO,
                                EVENTAUTH_SAML_IDP_ENTITY_ID=IDP_ID)
            print(f"\n== {label}: " + " ".join(f"{k}={v}" for k, v in saml_env.items()))
            with server(args.eventauth_bin, workdir, label, port, **common, **saml_env) as c:
                scenario(c, IdP(server_, acs, "idp"), IdP(rogue_server, acs, "rogue"),
                         IdP(expired_server, acs, "idp"), label)
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{len(oks)} ok, {len(diffs)} DIFF" + ("" if diffs else ": eventauth interoperates with pysaml2"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
