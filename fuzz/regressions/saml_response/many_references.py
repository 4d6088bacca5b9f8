#!/usr/bin/env python3
"""Writes `many_references` (about 187 kB; not committed: remade by this).

Not a crash: a slow input. An unsigned SAMLResponse under the 250 000-byte
limit whose one ds:Signature holds 330 References to the same ~92 kB
assertion, each with a correct SHA-256 digest (anyone can compute one: no
key is involved). Bergshamra canonicalizes and digests every Reference
before it checks the SignatureValue, so one request costs 330 digests of
the assertion (~30 MB of c14n + SHA-256) before it is refused: about 0.6 s
in the instrumented fuzz build, against about 25 ms for the same document
with one Reference. Replay (prints the time it took):

    python3 regressions/saml_response/many_references.py
    nice -n 19 cargo +nightly fuzz run saml_response regressions/saml_response/many_references
"""
import base64, hashlib, os

ASSERTION = ('<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" '
             'IssueInstant="2024-01-01T00:00:00Z" Version="2.0"><saml:Issuer>https://idp.test/metadata</saml:Issuer>'
             '<saml:AttributeStatement><saml:Attribute Name="x"><saml:AttributeValue>%s</saml:AttributeValue>'
             '</saml:Attribute></saml:AttributeStatement></saml:Assertion>')


def response(references, padding):
    # Written in canonical form, so its digest is the SHA-256 of this text.
    assertion = ASSERTION % ("x" * padding)
    digest = base64.b64encode(hashlib.sha256(assertion.encode()).digest()).decode()
    reference = ('<ds:Reference URI="#_a1"><ds:Transforms>'
                 '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
                 '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
                 '<ds:DigestValue>%s</ds:DigestValue></ds:Reference>') % digest
    signature = ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
                 '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
                 '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
                 + reference * references +
                 '</ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>')
    return ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" '
            'IssueInstant="2024-01-01T00:00:00Z">' + signature +
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
            + assertion + '</samlp:Response>')


xml = response(330, 92065)
assert len(base64.b64encode(xml.encode())) <= 250_000
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "many_references")
with open(out, "wb") as f:
    f.write(b"1" + xml.encode())  # mode 1: the XML, base64-encoded by the entry point
print(out)
