//! SAML 2.0 single sign-on as a service provider: the configuration, the
//! identity provider it trusts, the login URL (an `AuthnRequest` by the
//! HTTP-Redirect binding) and the verification of the `SAMLResponse` the
//! identity provider posts back ([`verify`]). Nothing here knows users or
//! surfaces: [`crate::service::single_sign_on`] turns a verified assertion
//! into a user.

mod metadata;

#[doc(hidden)]
pub mod testing;
pub mod verify;

use std::io::Write;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

pub use verify::{Assertion, Rejected};

/// SAML settings (all `EVENTAUTH_SAML_*`); single sign-on is on when the
/// service provider's entity id, its assertion consumer URL and an
/// identity provider (metadata, or certificate and SSO URL) are given.
#[derive(Debug, Clone, clap::Args)]
pub struct SamlConfig {
    /// The identity provider's metadata XML (a file): its entity id,
    /// signing certificates and SSO URL. Instead of the three below.
    #[arg(long, env = "EVENTAUTH_SAML_IDP_METADATA")]
    pub saml_idp_metadata: Option<PathBuf>,

    /// The identity provider's signing certificate: PEM text, or a file
    /// holding it.
    #[arg(long, env = "EVENTAUTH_SAML_IDP_CERT")]
    pub saml_idp_cert: Option<String>,

    /// The identity provider's single sign-on URL (HTTP-Redirect binding).
    #[arg(long, env = "EVENTAUTH_SAML_IDP_SSO_URL")]
    pub saml_idp_sso_url: Option<String>,

    /// The identity provider's entity id; when known (given, or from its
    /// metadata) an assertion's issuer must be it.
    #[arg(long, env = "EVENTAUTH_SAML_IDP_ENTITY_ID")]
    pub saml_idp_entity_id: Option<String>,

    /// Where the identity provider signs users out (offered to front ends
    /// after they sign out).
    #[arg(long, env = "EVENTAUTH_SAML_IDP_SIGNOUT_URL")]
    pub saml_idp_signout_url: Option<String>,

    /// This service's entity id: the audience assertions must name.
    #[arg(long, env = "EVENTAUTH_SAML_SP_ENTITY_ID")]
    pub saml_sp_entity_id: Option<String>,

    /// This service's assertion consumer URL (the public URL of
    /// `POST /api/auth/jwt`): the destination and recipient responses must
    /// name.
    #[arg(long, env = "EVENTAUTH_SAML_ACS_URL")]
    pub saml_acs_url: Option<String>,

    /// Clock skew tolerated on an assertion's validity window, seconds.
    #[arg(long, env = "EVENTAUTH_SAML_CLOCK_SKEW", default_value_t = 5)]
    pub saml_clock_skew: u64,

    /// Create a user on a first sign-on nobody is known by.
    #[arg(
        long,
        env = "EVENTAUTH_SAML_CREATE_USERS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub saml_create_users: bool,

    /// The NameID format asked for.
    #[arg(
        long,
        env = "EVENTAUTH_SAML_NAME_ID_FORMAT",
        default_value = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    )]
    pub saml_name_id_format: String,
}

/// The identity provider this service trusts, and this service as its
/// service provider.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    idp_entity_id: Option<String>,
    idp_sso_url: String,
    idp_signout_url: Option<String>,
    /// DER of each trusted signing certificate.
    idp_certificates: Vec<Vec<u8>>,
    sp_entity_id: String,
    acs_url: String,
    clock_skew: chrono::Duration,
    name_id_format: String,
    /// Whether an unknown identity becomes a new user.
    pub create_users: bool,
}

impl ServiceProvider {
    /// The service provider `config` describes: `None` when single sign-on
    /// is not configured; an error when it is, but incompletely or wrongly
    /// (the service must not start half-configured).
    pub fn from_config(config: &SamlConfig) -> anyhow::Result<Option<Self>> {
        let any = config.saml_idp_metadata.is_some()
            || config.saml_idp_cert.is_some()
            || config.saml_idp_sso_url.is_some()
            || config.saml_sp_entity_id.is_some()
            || config.saml_acs_url.is_some();
        if !any {
            return Ok(None);
        }
        let (Some(sp_entity_id), Some(acs_url)) = (&config.saml_sp_entity_id, &config.saml_acs_url)
        else {
            anyhow::bail!("SAML needs EVENTAUTH_SAML_SP_ENTITY_ID and EVENTAUTH_SAML_ACS_URL");
        };
        let mut idp = match &config.saml_idp_metadata {
            Some(path) => metadata::read(&std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read SAML IdP metadata {}: {e}", path.display())
            })?)?,
            None => metadata::IdentityProvider::default(),
        };
        if let Some(cert) = &config.saml_idp_cert {
            idp.certificates.push(certificate_der(cert)?);
        }
        if let Some(url) = &config.saml_idp_sso_url {
            idp.sso_url = Some(url.clone());
        }
        if let Some(entity_id) = &config.saml_idp_entity_id {
            idp.entity_id = Some(entity_id.clone());
        }
        let Some(idp_sso_url) = idp.sso_url else {
            anyhow::bail!("SAML needs the IdP's SSO URL (EVENTAUTH_SAML_IDP_SSO_URL or metadata)");
        };
        if idp.certificates.is_empty() {
            anyhow::bail!("SAML needs the IdP's certificate (EVENTAUTH_SAML_IDP_CERT or metadata)");
        }
        for der in &idp.certificates {
            bergshamra_keys::loader::load_x509_cert_der(der)
                .map_err(|e| anyhow::anyhow!("the SAML IdP certificate is unusable: {e}"))?;
        }
        Ok(Some(Self {
            idp_entity_id: idp.entity_id,
            idp_sso_url,
            idp_signout_url: config.saml_idp_signout_url.clone(),
            idp_certificates: idp.certificates,
            sp_entity_id: sp_entity_id.clone(),
            acs_url: acs_url.clone(),
            clock_skew: chrono::Duration::seconds(config.saml_clock_skew.min(600) as i64),
            name_id_format: config.saml_name_id_format.clone(),
            create_users: config.saml_create_users,
        }))
    }

    /// Where the identity provider signs users out, if configured.
    pub fn signout_url(&self) -> Option<&str> {
        self.idp_signout_url.as_deref()
    }

    /// The identity provider's login URL with a fresh `AuthnRequest`
    /// (HTTP-Redirect binding: deflated, base64, URL-encoded; unsigned,
    /// as most identity providers accept). Requests are not remembered,
    /// so responses are not matched to them (`InResponseTo`): replay is
    /// stopped by accepting each assertion once instead.
    pub fn login_url(&self, now: DateTime<Utc>) -> String {
        let request = format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
                r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{id}" Version="2.0" "#,
                r#"IssueInstant="{instant}" Destination="{destination}" "#,
                r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" "#,
                r#"AssertionConsumerServiceURL="{acs}"><saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy AllowCreate="true" Format="{format}"/></samlp:AuthnRequest>"#
            ),
            id = uuid::Uuid::new_v4().simple(),
            instant = now.format("%Y-%m-%dT%H:%M:%SZ"),
            destination = escape(&self.idp_sso_url),
            acs = escape(&self.acs_url),
            issuer = escape(&self.sp_entity_id),
            format = escape(&self.name_id_format),
        );
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let deflated = deflater
            .write_all(request.as_bytes())
            .and_then(|()| deflater.finish())
            .unwrap_or_default();
        let query = serde_urlencoded::to_string([("SAMLRequest", STANDARD.encode(deflated))])
            .unwrap_or_default();
        let separator = if self.idp_sso_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}{query}", self.idp_sso_url)
    }
}

/// A certificate's DER from PEM text or a PEM file.
fn certificate_der(value: &str) -> anyhow::Result<Vec<u8>> {
    let pem = if value.contains("-----BEGIN") {
        value.to_string()
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| anyhow::anyhow!("cannot read the SAML IdP certificate {value}: {e}"))?
    };
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD
        .decode(body.trim())
        .map_err(|e| anyhow::anyhow!("the SAML IdP certificate is not PEM: {e}"))
}

/// Text safe inside an XML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
