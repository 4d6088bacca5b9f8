#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/seeds/<target>/ (run from anywhere).

Each seed is laid out as its target's entry point in src/fuzzing.rs reads
it (a leading mode byte, lines, ...). The JPEG and WebP seeds of `image` are
not made here (no encoder in the standard library); they are committed as
they are. Needs the `cryptography` package (Ed25519).
"""
import base64, hashlib, hmac, json, os, struct, zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = os.path.dirname(os.path.abspath(__file__))
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")

def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# --- tokens ---------------------------------------------------------------
# src/fuzzing.rs: SIGNING_SEED = [7; 32], ISSUER, AUDIENCE, OPENARCHIVER_SECRET.
key = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
kid = hashlib.sha256(public).hexdigest()[:16]
USER, SESSION = "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"
header = json.dumps({"typ": "JWT", "alg": "EdDSA", "kid": kid}, separators=(",", ":")).encode()
claims = json.dumps({
    "sub": USER, "sid": SESSION, "iss": "https://eventauth.fuzz", "aud": "eventauth",
    "exp": 4102444800, "iat": 1700000000, "jti": "0190a5b2-0000-7000-8000-000000000001",
    "roles": ["admin"], "auth_time": 1700000000, "auth_time_ms": 1700000000123,
}, separators=(",", ":")).encode()
signing_input = b64u(header) + b"." + b64u(claims)
jwt = signing_input + b"." + b64u(key.sign(signing_input))
write("access_token", "signed_jwt_text", b"0" + jwt)             # mode even: token text
write("access_token", "header_and_claims", b"1" + header + b"\n" + claims)  # mode odd: signed here
expired = claims.replace(b"4102444800", b"1600000000")
write("access_token", "expired_claims", b"1" + header + b"\n" + expired)
write("access_token", "login_token", b"0" + b"sx8yz0-0123456789abcdef0123")
refresh = "0190a5b27c3d7e4f8a9b0c1d2e3f4a5c." + b64u(bytes(range(32))).decode()
write("access_token", "refresh_token", "0" + refresh)

oa_header = json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()
oa_claims = json.dumps({
    "sub": USER, "email": "ada@example.com", "roles": ["Super Admin"], "iat": 1700000000,
    "exp": 4102444800, "sid": SESSION, "auth_ms": 1700000000123,
}, separators=(",", ":")).encode()
oa_input = b64u(oa_header) + b"." + b64u(oa_claims)
oa_jwt = oa_input + b"." + b64u(hmac.new(b"fuzzing-openarchiver-jwt-secret", oa_input, hashlib.sha256).digest())
write("openarchiver_token", "signed_jwt_text", b"0" + oa_jwt)
write("openarchiver_token", "header_and_claims", b"1" + oa_header + b"\n" + oa_claims)
write("openarchiver_token", "alg_none", b"0" + b64u(b'{"alg":"none"}') + b"." + b64u(oa_claims) + b".")

# --- headers --------------------------------------------------------------
# First byte of a line % 5: 0/4 Cookie, 1 Authorization, 2 X-Forwarded-For, 3 X-Forwarded-Proto.
# 'd'=100 -> Cookie, 'e' -> Authorization, 'f' -> X-Forwarded-For, 'g' -> X-Forwarded-Proto.
write("headers", "browser", "\n".join([
    "dkolibri=" + refresh + "; kolibri_csrftoken=" + "a1" * 16 + "; visitor_id=3f2504e04f8941d39a0c0305e82c3301",
    "dBackstackJWT=" + refresh + "; refreshToken=\"" + refresh + "\"",
    "f6.6.6.6, 203.0.113.5, 10.0.0.1",
    "f2001:db8::1",
    "ghttp, HTTPS",
]))
write("headers", "bearer", "eBearer " + jwt.decode() + "\nf198.51.100.7")
write("headers", "basic", "eBasic " + base64.b64encode(b"client:s3cret").decode() + "\ngHttps")

# --- import rows ----------------------------------------------------------
# Mode byte: even CSV, odd JSON lines; bit 1: passwordless learners allowed.
write("import_rows", "kolibri_csv", "0" + "\n".join([
    "username,password,full_name,user_type,identifier,birth_year,gender,enrolled_in,assigned_to",
    "ada,correct horse,Ada Lovelace,learner,A-17,1990,FEMALE,Class A,",
    "grace,,Grace Hopper,coach,,NOT_SPECIFIED,,\"Class A, Bäume 2\",Class A",
    "alan,,Alan Turing,admin,,,MALE,,",
]) + "\n")
write("import_rows", "hashes_csv", "2" + "\n".join([
    "username,password_hash,full_name,id_number",
    "kim,pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=,Kim,1",
    "lee,$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW,Lee,2",
    "max,$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g,Max,3",
]) + "\n")
write("import_rows", "rows_jsonl", "1" + "\n".join([
    json.dumps({"username": "ada", "password": "correct horse", "full_name": "Ada", "user_type": "classroom_coach", "assigned_to": "Class A"}),
    json.dumps({"username": "bo", "password_hash": "bcrypt_sha256$$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}),
]) + "\n")

# --- input text -----------------------------------------------------------
for name, text in {
    "email": "  Ada@Example.COM ", "username": "Ada_Lovelace", "name": "Grace Brewster Hopper",
    "uuid": "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "blob_key": "a" * 64 + ".png", "pbkdf2": "pbkdf2_sha1$1000$salt1$v1sY7XVH70vcmoRIvfYFoCRwboE=",
    "cursor": "12345.678", "quoted_email": "\"ada lovelace\"@[192.168.0.1]",
}.items():
    write("input_text", name, text)

# --- images ---------------------------------------------------------------
def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"".join(bytes((x * 30 % 256, y * 30 % 256, 7, 200)) for x in range(width))
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
small_png = png(8, 6)
write("image", "rgba.png", small_png)
# The smallest GIF: 1x1, one colour.
write("image", "pixel.gif", base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="))

# --- multipart ------------------------------------------------------------
# First byte: chunk size; then the Content-Type line; then the body.
body = b"".join([
    b"--XyZ\r\nContent-Disposition: form-data; name=\"firstName\"\r\n\r\nAda\r\n",
    b"--XyZ\r\nContent-Disposition: form-data; name=\"lastName\"\r\n\r\nLovelace\r\n",
    b"--XyZ\r\nContent-Disposition: form-data; name=\"profileImage\"; filename=\"a.png\"\r\n"
    b"Content-Type: image/png\r\n\r\n" + small_png + b"\r\n",
    b"--XyZ--\r\n",
])
write("multipart", "profile", b"\x07" + b"multipart/form-data; boundary=XyZ\n" + body)
write("multipart", "quoted_boundary", b"\xff" + b"multipart/form-data; boundary=\"a b\"\n"
      + b"--a b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--a b--\r\n")

# --- SAML -----------------------------------------------------------------
# As src/saml/testing.rs builds them, for the test SP (SP, ACS, IDP there).
SIGNATURE = ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<ds:Reference URI="#REF"><ds:Transforms>'
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    '<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>'
    '<ds:SignatureValue></ds:SignatureValue></ds:Signature>')
def assertion(signed, aid="_a1"):
    return ('<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">'
        '<saml:Issuer>https://idp.test/metadata</saml:Issuer>%s'
        '<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">grace@example.com</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        '<saml:SubjectConfirmationData NotOnOrAfter="2099-01-01T00:00:00Z" Recipient="https://sp.test/api/auth/jwt"/></saml:SubjectConfirmation></saml:Subject>'
        '<saml:Conditions NotBefore="2020-01-01T00:00:00Z" NotOnOrAfter="2099-01-01T00:00:00Z"><saml:AudienceRestriction>'
        '<saml:Audience>https://sp.test/eventauth</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
        '<saml:AuthnStatement AuthnInstant="2024-01-01T00:00:00Z"><saml:AuthnContext><saml:AuthnContextClassRef>'
        'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
        '<saml:AttributeStatement>'
        '<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"><saml:AttributeValue>Grace</saml:AttributeValue></saml:Attribute>'
        '<saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/role" FriendlyName="role"><saml:AttributeValue>Staff</saml:AttributeValue></saml:Attribute>'
        '</saml:AttributeStatement></saml:Assertion>') % (aid, SIGNATURE.replace("REF", aid) if signed else "")
def response(inner):
    return ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" '
        'IssueInstant="2024-01-01T00:00:00Z" Destination="https://sp.test/api/auth/jwt"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://idp.test/metadata</saml:Issuer>'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        '%s</samlp:Response>') % inner
# Mode byte % 3: 0 base64 text as posted, 1 XML (encoded here), 2 XML whose templates are signed here.
write("saml_response", "template_to_sign.xml", "2" + response(assertion(True)))
write("saml_response", "unsigned.xml", "1" + response(assertion(False)))
write("saml_response", "wrapped.xml", "2" + response(assertion(True) + assertion(False, "_evil")))
write("saml_response", "posted_base64", "0" + "\r\n".join(
    base64.b64encode(response(assertion(True)).encode()).decode()[i:i + 76] for i in range(0, len(base64.b64encode(response(assertion(True)).encode())), 76)))
print("kid", kid)
