//! What an identity provider's metadata says that a service provider
//! needs: its entity id, its signing certificates, its SSO URL.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::verify::{child, children, DSIG, METADATA};

/// An identity provider as its metadata describes it.
#[derive(Debug, Default)]
pub struct IdentityProvider {
    pub entity_id: Option<String>,
    pub sso_url: Option<String>,
    pub certificates: Vec<Vec<u8>>,
}

/// Reads an `EntityDescriptor` with an `IDPSSODescriptor`.
pub fn read(xml: &str) -> anyhow::Result<IdentityProvider> {
    if xml.contains("<!DOCTYPE") {
        anyhow::bail!("SAML IdP metadata must not hold a DOCTYPE");
    }
    let doc = uppsala::parse(xml).map_err(|e| anyhow::anyhow!("SAML IdP metadata: {e}"))?;
    let root = doc
        .document_element()
        .ok_or_else(|| anyhow::anyhow!("SAML IdP metadata is empty"))?;
    let entity = if is(&doc, root, METADATA, "EntityDescriptor") {
        root
    } else {
        // An EntitiesDescriptor: the first entity with an IdP role.
        children(&doc, root, METADATA, "EntityDescriptor")
            .into_iter()
            .find(|e| child(&doc, *e, METADATA, "IDPSSODescriptor").is_some())
            .ok_or_else(|| anyhow::anyhow!("SAML IdP metadata names no identity provider"))?
    };
    let idp = child(&doc, entity, METADATA, "IDPSSODescriptor")
        .ok_or_else(|| anyhow::anyhow!("SAML IdP metadata has no IDPSSODescriptor"))?;
    let sso_url = children(&doc, idp, METADATA, "SingleSignOnService")
        .into_iter()
        .find(|s| {
            doc.get_attribute(*s, "Binding")
                == Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        })
        .and_then(|s| doc.get_attribute(s, "Location"))
        .map(str::to_string);
    let mut certificates = Vec::new();
    for descriptor in children(&doc, idp, METADATA, "KeyDescriptor") {
        if doc
            .get_attribute(descriptor, "use")
            .is_some_and(|usage| usage != "signing")
        {
            continue;
        }
        let text = child(&doc, descriptor, DSIG, "KeyInfo")
            .and_then(|info| child(&doc, info, DSIG, "X509Data"))
            .and_then(|data| child(&doc, data, DSIG, "X509Certificate"))
            .map(|cert| doc.text_content_deep(cert));
        if let Some(text) = text {
            let compact: String = text.split_whitespace().collect();
            certificates.push(
                STANDARD
                    .decode(compact)
                    .map_err(|e| anyhow::anyhow!("SAML IdP metadata certificate: {e}"))?,
            );
        }
    }
    Ok(IdentityProvider {
        entity_id: doc.get_attribute(entity, "entityID").map(str::to_string),
        sso_url,
        certificates,
    })
}

fn is(doc: &uppsala::Document<'_>, node: uppsala::NodeId, ns: &str, name: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.matches_name_ns(ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::testing::fixture;

    fn certificate_base64() -> String {
        let pem = std::fs::read_to_string(fixture("idp.crt")).expect("fixture");
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn metadata_gives_the_entity_the_signing_certificate_and_the_redirect_url() {
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.test/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
      {cert}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            cert = certificate_base64()
        );
        let idp = read(&xml).expect("metadata");
        assert_eq!(idp.entity_id.as_deref(), Some("https://idp.test/metadata"));
        assert_eq!(idp.sso_url.as_deref(), Some("https://idp.test/sso"));
        assert_eq!(
            idp.certificates.len(),
            1,
            "the encryption key is not a signing key"
        );
        assert_eq!(
            idp.certificates[0],
            STANDARD.decode(certificate_base64()).expect("base64")
        );
        assert!(read("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>").is_err());
        assert!(
            read("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>")
                .is_err()
        );
    }

    #[test]
    fn half_a_configuration_stops_the_service() {
        let mut config = crate::Config::defaults().saml;
        assert!(crate::saml::ServiceProvider::from_config(&config)
            .expect("off")
            .is_none());
        config.saml_sp_entity_id = Some("https://sp.test".into());
        config.saml_acs_url = Some("https://sp.test/api/auth/jwt".into());
        config.saml_idp_sso_url = Some("https://idp.test/sso".into());
        assert!(
            crate::saml::ServiceProvider::from_config(&config).is_err(),
            "no certificate"
        );
        config.saml_idp_cert = Some("not a certificate".into());
        assert!(crate::saml::ServiceProvider::from_config(&config).is_err());
        config.saml_idp_cert = Some(fixture("idp.crt"));
        assert!(crate::saml::ServiceProvider::from_config(&config)
            .expect("complete")
            .is_some());
    }
}
