//! A test identity provider: SAML responses about made-up people, signed
//! with the key pairs in `tests/fixtures/saml/` (test keys, made by its
//! `generate.sh`). For the tests and the benchmark; never configured by
//! the service itself.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

/// The test service provider's entity id.
pub const SP: &str = "https://sp.test/eventauth";
/// Its assertion consumer URL.
pub const ACS: &str = "https://sp.test/api/auth/jwt";
/// The test identity provider's entity id.
pub const IDP: &str = "https://idp.test/metadata";
/// Its SSO URL.
pub const SSO: &str = "https://idp.test/sso";
/// The front end the sign-in sends browsers back to.
pub const FRONT: &str = "https://doubtfire.test";

/// A file of `tests/fixtures/saml/`.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What a response says.
#[derive(Clone, Debug)]
pub struct Claims {
    /// The assertion's id.
    pub id: String,
    /// The subject.
    pub name_id: String,
    /// The audience named.
    pub audience: String,
    /// The subject confirmation's recipient.
    pub recipient: String,
    /// The start of the validity window.
    pub not_before: DateTime<Utc>,
    /// Its end.
    pub not_on_or_after: DateTime<Utc>,
    /// A role attribute of `Staff` (else `Student`).
    pub staff: bool,
}

impl Claims {
    /// A valid assertion about `name_id` for the test service provider.
    pub fn valid(name_id: &str) -> Self {
        let now = Utc::now();
        Self {
            id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            name_id: name_id.to_string(),
            audience: SP.to_string(),
            recipient: ACS.to_string(),
            not_before: now - chrono::Duration::seconds(60),
            not_on_or_after: now + chrono::Duration::seconds(300),
            staff: false,
        }
    }
}

/// `xs:dateTime`.
fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An enveloped RSA-SHA256 signature template (`REF`: the signed id).
const SIGNATURE: &str = concat!(
    r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
    r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
    r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
    r##"<ds:Reference URI="#REF"><ds:Transforms>"##,
    r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
    r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>"#,
    r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
    r#"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
    r#"<ds:SignatureValue></ds:SignatureValue></ds:Signature>"#
);

/// An assertion (with a signature template when `signed`).
pub fn assertion(claims: &Claims, signed: bool) -> String {
    let signature = if signed {
        SIGNATURE.replace("REF", &claims.id)
    } else {
        String::new()
    };
    let role = if claims.staff { "Staff" } else { "Student" };
    format!(
        concat!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}">"#,
            r#"<saml:Issuer>{idp}</saml:Issuer>{signature}"#,
            r#"<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID>"#,
            r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="{before}" NotOnOrAfter="{until}"><saml:AudienceRestriction>"#,
            r#"<saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
            r#"<saml:AuthnStatement AuthnInstant="{now}"><saml:AuthnContext><saml:AuthnContextClassRef>"#,
            r#"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
            r#"<saml:AttributeStatement>"#,
            r#"<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"><saml:AttributeValue>Grace</saml:AttributeValue></saml:Attribute>"#,
            r#"<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"><saml:AttributeValue>Hopper</saml:AttributeValue></saml:Attribute>"#,
            r#"<saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/role"><saml:AttributeValue>{role}</saml:AttributeValue></saml:Attribute>"#,
            r#"</saml:AttributeStatement></saml:Assertion>"#
        ),
        id = claims.id,
        now = instant(Utc::now()),
        idp = IDP,
        signature = signature,
        name_id = claims.name_id,
        until = instant(claims.not_on_or_after),
        recipient = claims.recipient,
        before = instant(claims.not_before),
        audience = claims.audience,
        role = role,
    )
}

/// A response holding `assertions`.
pub fn response_around(assertions: &str) -> String {
    format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r{id}" Version="2.0" "#,
            r#"IssueInstant="{now}" Destination="{acs}"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{idp}</saml:Issuer>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"{assertions}</samlp:Response>"#
        ),
        id = uuid::Uuid::new_v4().simple(),
        now = instant(Utc::now()),
        acs = ACS,
        idp = IDP,
        assertions = assertions,
    )
}

/// Signs the signature templates of `xml` with a key pair of the fixtures.
pub fn sign_with(xml: &str, key: &str) -> String {
    let pem = std::fs::read(fixture(&format!("{key}.key"))).expect("a fixture key");
    let key = bergshamra_keys::loader::load_pem_auto(&pem, None).expect("key");
    let mut keys = bergshamra_keys::KeysManager::new();
    keys.add_key(key);
    let ctx = bergshamra_dsig::DsigContext::new_permissive(keys);
    bergshamra_dsig::sign::sign(&ctx, xml).expect("signed")
}

/// [`signed_response`] with RSA-SHA1 and a SHA-1 digest (many identity
/// providers' default, refused).
pub fn sha1_signed_response(claims: &Claims, key: &str) -> String {
    let xml = response_around(&assertion(claims, true))
        .replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        )
        .replace(
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        );
    STANDARD.encode(sign_with(&xml, key))
}

/// A response whose assertion is signed by `key`, base64.
pub fn signed_response(claims: &Claims, key: &str) -> String {
    STANDARD.encode(sign_with(&response_around(&assertion(claims, true)), key))
}
