//! One personal value sealed and opened: the sealed text's format, the
//! AES-256-GCM of it, and finding sealed values in a stored JSON text.

use std::collections::{HashMap, HashSet};

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde_json::Value;

use super::{tagged, Key, VaultError};

/// A sealed value's text: `<subject>|<field>|<base64url(nonce ‖
/// ciphertext)>`. The field (a JSON pointer, or `#<name>` for metadata) is
/// bound into the ciphertext with the event's place, so a value moved to
/// another event or stream does not open; it is written out so that a
/// value can be opened where it is found in the text, without a JSON tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sealed<'a> {
    pub(super) subject: &'a str,
    field: &'a str,
    body: &'a str,
}

impl<'a> Sealed<'a> {
    pub(super) fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(3, '|');
        Some(Self {
            subject: parts.next()?,
            field: parts.next()?,
            body: parts.next()?,
        })
    }
}

/// The subjects of the sealed values in a JSON text.
pub(super) fn subjects_in(text: &str, subjects: &mut HashSet<String>) -> Result<(), VaultError> {
    for span in tagged::sealed_spans(text) {
        let sealed = Sealed::parse(span.sealed).ok_or_else(|| damaged(span.sealed))?;
        if !subjects.contains(sealed.subject) {
            subjects.insert(sealed.subject.to_string());
        }
    }
    Ok(())
}

/// `text` with every sealed value opened (`{"plain": …}`, or `{"erased":
/// true}` where the key is gone); `None` when it holds none.
pub(super) fn open_in_text(
    keys: &HashMap<String, Key>,
    at: &str,
    text: &str,
) -> Result<Option<String>, VaultError> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for span in tagged::sealed_spans(text) {
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..span.start]);
        match decrypt(keys, at, span.sealed)? {
            Some(clear) => {
                out.push_str("{\"plain\":");
                out.push_str(&clear);
                out.push('}');
            }
            None => out.push_str("{\"erased\":true}"),
        }
        copied = span.end;
    }
    Ok(out.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    }))
}

fn damaged(sealed: &str) -> VaultError {
    let shown: String = sealed.chars().take(60).collect();
    VaultError::Crypto(format!("a sealed personal value is damaged: {shown}…"))
}

/// One personal value sealed: `{"plain": v}` → `{"enc": …}` for the value
/// at `field` of the event (or snapshot) at `at`; anything else (already
/// sealed, erased) as it is. An erased subject's value is not kept at all.
pub(super) fn seal_one(
    key: &Key,
    subject: &str,
    at: &str,
    field: &str,
    tagged: &Value,
) -> Result<Value, VaultError> {
    let Some(clear) = tagged::plain(tagged) else {
        return Ok(tagged.clone());
    };
    let Key::Live(cipher) = key else {
        return Ok(tagged::make_erased());
    };
    // Field names are Rust identifiers, indices and `#` names: nothing
    // that needs escaping in JSON or could be taken for the separator.
    if !field
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_#-".contains(&b))
    {
        return Err(VaultError::Crypto(format!(
            "cannot seal the field {field:?}"
        )));
    }
    let msg = serde_json::to_vec(clear).map_err(|e| VaultError::Crypto(e.to_string()))?;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let aad = format!("{at}{field}");
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &msg,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Crypto(format!("sealing {aad} failed")))?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(tagged::make_sealed(format!("{subject}|{field}|{text}")))
}

/// The clear JSON of a sealed value stored at `at`; `None` when its key
/// was destroyed.
fn decrypt(
    keys: &HashMap<String, Key>,
    at: &str,
    text: &str,
) -> Result<Option<String>, VaultError> {
    let sealed = Sealed::parse(text).ok_or_else(|| damaged(text))?;
    let cipher = match keys.get(sealed.subject) {
        Some(Key::Live(cipher)) => cipher,
        Some(Key::Erased) => return Ok(None),
        None => return Err(damaged(text)),
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed.body)
        .map_err(|_| damaged(text))?;
    if bytes.len() < 12 {
        return Err(damaged(text));
    }
    let (nonce, body) = bytes.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| damaged(text))?;
    let aad = format!("{at}{}", sealed.field);
    let clear = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: body,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            VaultError::Crypto(format!(
                "the personal value at {aad} does not decrypt with its subject's key"
            ))
        })?;
    // The vault's own serialization of the value, authenticated by the
    // tag: JSON, not parsed again here (its reader parses it).
    let clear = String::from_utf8(clear).map_err(|_| damaged(text))?;
    Ok(Some(clear))
}

/// One sealed value opened in place (a JSON tree's): `{"enc": …}` →
/// `{"plain": v}`, or `{"erased": true}`.
pub(super) fn open_one(
    keys: &HashMap<String, Key>,
    at: &str,
    tagged: &mut Value,
) -> Result<(), VaultError> {
    let Some(text) = tagged::sealed(tagged) else {
        return Ok(());
    };
    *tagged = match decrypt(keys, at, text)? {
        Some(clear) => tagged::make_plain(serde_json::from_str(&clear).map_err(|_| damaged(text))?),
        None => tagged::make_erased(),
    };
    Ok(())
}
