//! Verifying a `SAMLResponse` (HTTP-POST binding) from the trusted
//! identity provider.
//!
//! The XML signature is checked by Bergshamra in its strict mode: only the
//! configured certificates are trusted (never a key the message carries),
//! each reference must point at the signature's parent or an ancestor (no
//! signed element moved elsewhere), duplicate ids fail the document. The
//! document must hold exactly one assertion, a direct child of the
//! response, and it must be the element a valid signature covers (itself,
//! or the whole response): what is read afterwards is read from that very
//! node of the same parsed document, so nothing unsigned beside it is ever
//! used (signature wrapping). Then the SAML rules: success status,
//! destination, issuer, audience, bearer subject confirmation with its
//! recipient and window, the conditions' window, each with a small clock
//! skew. Any failure is one [`Rejected`] (the client learns nothing more);
//! the reason goes to the log.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bergshamra_dsig::{DsigContext, VerifyResult};
use bergshamra_keys::KeysManager;
use chrono::{DateTime, Utc};
use uppsala::{Document, NodeId};

use super::ServiceProvider;

pub(super) const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(super) const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(super) const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(super) const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// The signature algorithms accepted: RSA and ECDSA with SHA-2. SHA-1 (still
/// many identity providers' default) is refused: Bergshamra verifies it
/// whatever its features, so the check is here.
const SIGNATURE_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// The digest algorithms accepted: SHA-2.
const DIGEST_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The largest `SAMLResponse` accepted (base64), as ruby-saml's limit.
pub const MAX_RESPONSE_BYTES: usize = 250_000;

/// A response that is not a valid assertion for this service provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SAML response: {0}")]
pub struct Rejected(pub String);

fn reject<T>(why: impl Into<String>) -> Result<T, Rejected> {
    Err(Rejected(why.into()))
}

/// What a verified assertion says.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The identity provider's entity id.
    pub issuer: String,
    /// The assertion's id (accepted once).
    pub id: String,
    /// The subject's NameID.
    pub name_id: String,
    /// Until when the assertion could be presented.
    pub valid_until: DateTime<Utc>,
    /// Attributes: (name, friendly name, values).
    pub attributes: Vec<Attribute>,
}

/// One attribute of an assertion.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Its `Name` (often a URI).
    pub name: String,
    /// Its `FriendlyName`, if any.
    pub friendly_name: Option<String>,
    /// Its values.
    pub values: Vec<String>,
}

impl Assertion {
    /// The first value of the first attribute whose name or friendly name
    /// ends with `suffix` (case-insensitively): `mail`, `givenname`, `…/claims/role`.
    pub fn attribute<'a>(&'a self, suffix: &'a str) -> Option<&'a str> {
        self.attributes_named(suffix).next()
    }

    /// Every value of the attributes named with `suffix` (as
    /// [`Self::attribute`]).
    pub fn attributes_named<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let suffix = suffix.to_ascii_lowercase();
        self.attributes
            .iter()
            .filter(move |a| {
                let ends = |name: &str| {
                    let name = name.to_ascii_lowercase();
                    name == suffix
                        || name.ends_with(&format!("/{suffix}"))
                        || name.ends_with(&format!(":{suffix}"))
                };
                ends(&a.name) || a.friendly_name.as_deref().is_some_and(ends)
            })
            .flat_map(|a| a.values.iter().map(String::as_str))
    }
}

impl ServiceProvider {
    /// Verifies a base64 `SAMLResponse` at `now`.
    pub fn verify(&self, encoded: &str, now: DateTime<Utc>) -> Result<Assertion, Rejected> {
        if encoded.len() > MAX_RESPONSE_BYTES {
            return reject("too large");
        }
        let compact: String = encoded.split_ascii_whitespace().collect();
        let Ok(bytes) = STANDARD.decode(compact) else {
            return reject("not base64");
        };
        let Ok(xml) = String::from_utf8(bytes) else {
            return reject("not UTF-8");
        };
        // No DTDs at all: no entity tricks, and SAML has no use for them.
        if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
            return reject("holds a DTD");
        }
        let Ok(doc) = uppsala::parse(&xml) else {
            return reject("not XML");
        };
        let Some(response) = doc.document_element() else {
            return reject("empty");
        };
        if !is(&doc, response, PROTOCOL, "Response") {
            return reject("not a Response");
        }
        if doc.get_attribute(response, "Version") != Some("2.0") {
            return reject("not SAML 2.0");
        }
        let status = child(&doc, response, PROTOCOL, "Status")
            .and_then(|s| child(&doc, s, PROTOCOL, "StatusCode"))
            .and_then(|c| doc.get_attribute(c, "Value"));
        if status != Some(SUCCESS) {
            return reject("status is not success");
        }
        if let Some(destination) = doc.get_attribute(response, "Destination") {
            if destination != self.acs_url {
                return reject("wrong destination");
            }
        }
        if !doc
            .get_elements_by_tag_name_ns(ASSERTION, "EncryptedAssertion")
            .is_empty()
        {
            return reject("encrypted assertions are not supported");
        }
        let assertions = doc.get_elements_by_tag_name_ns(ASSERTION, "Assertion");
        let [assertion] = assertions[..] else {
            return reject("not exactly one assertion");
        };
        if doc.parent(assertion) != Some(response) {
            return reject("the assertion is not the response's");
        }
        self.check_signature(&doc, &xml, response, assertion)?;
        self.read_assertion(&doc, assertion, now)
    }

    /// A valid signature by a trusted key covers the response or the
    /// assertion; no signature in the document is invalid.
    fn check_signature(
        &self,
        doc: &Document<'_>,
        xml: &str,
        response: NodeId,
        assertion: NodeId,
    ) -> Result<(), Rejected> {
        let allowed = |element: &str, accepted: &[&str]| {
            doc.get_elements_by_tag_name_ns(DSIG, element)
                .into_iter()
                .all(|node| {
                    doc.get_attribute(node, "Algorithm")
                        .is_some_and(|a| accepted.contains(&a))
                })
        };
        if !allowed("SignatureMethod", SIGNATURE_METHODS)
            || !allowed("DigestMethod", DIGEST_METHODS)
        {
            return reject("a signature or digest algorithm that is not accepted (SHA-1?)");
        }
        // SAML signs the response, the assertion, or both, each with one
        // reference (SAML core §5.4.2). Bergshamra canonicalizes and
        // digests every reference before it checks the signature value, so
        // an unsigned post with hundreds of references to a large
        // assertion cost hundreds of digests of it (found while fuzzing).
        let signatures = doc.get_elements_by_tag_name_ns(DSIG, "Signature");
        let one_reference_each = signatures.iter().all(|signature| {
            child(doc, *signature, DSIG, "SignedInfo")
                .is_some_and(|info| children(doc, info, DSIG, "Reference").len() == 1)
        });
        if signatures.len() > 2 || !one_reference_each {
            return reject("more than one reference per signature, or more than two signatures");
        }
        let mut keys = KeysManager::new();
        for der in &self.idp_certificates {
            match bergshamra_keys::loader::load_x509_cert_der(der) {
                Ok(key) => keys.add_key(key),
                Err(error) => return reject(format!("certificate: {error}")),
            }
        }
        // Secure defaults: trusted keys only, strict reference positions,
        // every reference digested. The certificate's own validity is the
        // operator's business (a pinned key, as ruby-saml by default).
        let ctx = DsigContext::new(keys).with_skip_time_checks(true);
        let results =
            match bergshamra_dsig::verify::verify_all_document_with_source(&ctx, doc, Some(xml)) {
                Ok(results) => results,
                Err(error) => return reject(format!("signature: {error}")),
            };
        let mut covered = false;
        for result in results {
            match result {
                VerifyResult::Valid { references, .. } => {
                    covered |= references.iter().any(|r| {
                        r.digest_verified
                            && matches!(r.resolved_node, Some(n) if n == response || n == assertion)
                    });
                }
                VerifyResult::Invalid { reason } => {
                    return reject(format!("signature invalid: {reason}"))
                }
            }
        }
        if covered {
            Ok(())
        } else {
            reject("neither the response nor the assertion is signed")
        }
    }

    /// The SAML rules, read from the signed assertion.
    fn read_assertion(
        &self,
        doc: &Document<'_>,
        assertion: NodeId,
        now: DateTime<Utc>,
    ) -> Result<Assertion, Rejected> {
        let skew = self.clock_skew;
        if doc.get_attribute(assertion, "Version") != Some("2.0") {
            return reject("assertion is not SAML 2.0");
        }
        let Some(id) = doc
            .get_attribute(assertion, "ID")
            .filter(|id| !id.is_empty())
        else {
            return reject("assertion without id");
        };
        let Some(issuer) = child(doc, assertion, ASSERTION, "Issuer").map(|i| text(doc, i)) else {
            return reject("assertion without issuer");
        };
        if issuer.is_empty()
            || self
                .idp_entity_id
                .as_ref()
                .is_some_and(|idp| *idp != issuer)
        {
            return reject("wrong issuer");
        }
        let Some(subject) = child(doc, assertion, ASSERTION, "Subject") else {
            return reject("no subject");
        };
        let name_id = child(doc, subject, ASSERTION, "NameID")
            .map(|n| text(doc, n))
            .unwrap_or_default();
        if name_id.is_empty() {
            return reject("no NameID");
        }
        // A bearer confirmation for this service, live now.
        let mut confirmed_until = None;
        for confirmation in children(doc, subject, ASSERTION, "SubjectConfirmation") {
            if doc.get_attribute(confirmation, "Method") != Some(BEARER) {
                continue;
            }
            let Some(data) = child(doc, confirmation, ASSERTION, "SubjectConfirmationData") else {
                continue;
            };
            if doc.get_attribute(data, "Recipient") != Some(self.acs_url.as_str()) {
                continue;
            }
            let Some(until) = instant(doc, data, "NotOnOrAfter")? else {
                continue;
            };
            let before = instant(doc, data, "NotBefore")?;
            if now - skew < until && before.is_none_or(|b| b <= now + skew) {
                confirmed_until = Some(until);
                break;
            }
        }
        let Some(confirmed_until) = confirmed_until else {
            return reject("no live bearer confirmation for this recipient");
        };
        let conditions = children(doc, assertion, ASSERTION, "Conditions");
        let [conditions] = conditions[..] else {
            return reject("not exactly one Conditions");
        };
        let before = instant(doc, conditions, "NotBefore")?;
        let after = instant(doc, conditions, "NotOnOrAfter")?;
        if before.is_some_and(|b| b > now + skew) {
            return reject("not yet valid");
        }
        if after.is_some_and(|a| a <= now - skew) {
            return reject("expired");
        }
        let restrictions = children(doc, conditions, ASSERTION, "AudienceRestriction");
        let for_us = !restrictions.is_empty()
            && restrictions.iter().all(|restriction| {
                children(doc, *restriction, ASSERTION, "Audience")
                    .iter()
                    .any(|audience| text(doc, *audience) == self.sp_entity_id)
            });
        if !for_us {
            return reject("wrong audience");
        }
        let mut attributes = Vec::new();
        for statement in children(doc, assertion, ASSERTION, "AttributeStatement") {
            for attribute in children(doc, statement, ASSERTION, "Attribute") {
                attributes.push(Attribute {
                    name: doc
                        .get_attribute(attribute, "Name")
                        .unwrap_or("")
                        .to_string(),
                    friendly_name: doc
                        .get_attribute(attribute, "FriendlyName")
                        .map(str::to_string),
                    values: children(doc, attribute, ASSERTION, "AttributeValue")
                        .into_iter()
                        .map(|value| text(doc, value))
                        .collect(),
                });
            }
        }
        Ok(Assertion {
            issuer,
            id: id.to_string(),
            name_id,
            valid_until: after.map_or(confirmed_until, |a| a.min(confirmed_until)),
            attributes,
        })
    }
}

/// An element's trimmed text.
fn text(doc: &Document<'_>, node: NodeId) -> String {
    doc.text_content_deep(node).trim().to_string()
}

/// An `xs:dateTime` attribute, if present; malformed rejects.
fn instant(
    doc: &Document<'_>,
    node: NodeId,
    name: &str,
) -> Result<Option<DateTime<Utc>>, Rejected> {
    match doc.get_attribute(node, name) {
        None => Ok(None),
        Some(value) => match DateTime::parse_from_rfc3339(value) {
            Ok(at) => Ok(Some(at.with_timezone(&Utc))),
            Err(_) => reject(format!("malformed {name}")),
        },
    }
}

fn is(doc: &Document<'_>, node: NodeId, ns: &str, name: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.matches_name_ns(ns, name))
}

/// The first child element `ns:name` of `parent`.
pub(super) fn child(doc: &Document<'_>, parent: NodeId, ns: &str, name: &str) -> Option<NodeId> {
    doc.first_child_element_by_name_ns(parent, ns, name)
}

/// The child elements `ns:name` of `parent`.
pub(super) fn children(doc: &Document<'_>, parent: NodeId, ns: &str, name: &str) -> Vec<NodeId> {
    doc.child_elements_by_name_ns(parent, ns, name)
}
