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
