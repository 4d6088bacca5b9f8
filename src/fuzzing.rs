//! Entry points for the `cargo fuzz` targets of `fuzz/` (issue 19): one
//! per parser that takes untrusted input, each taking the fuzzer's bytes.
//!
//! Not part of the service: nothing calls this module but `fuzz/`. It lives
//! inside the crate so that it can reach the parsers the crate keeps
//! `pub(crate)` (the import's `parse`, `ild::profile::read_parts`,
//! `oauth::basic_credentials`): every entry point calls the service's own
//! code, never a copy of it, so the fuzzer tries what runs.
//!
//! Nothing here may panic by itself: a panic while an entry point runs is a
//! finding, in the crate or in a dependency. Setting-up that could fail
//! (keys, the test certificate) makes the entry point a no-op instead.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::keys::KeyMaterial;
use crate::auth::tokens::{hash_token, Tokens};
use crate::saml::{SamlConfig, ServiceProvider};

/// The issuer of the fuzzing token service (seeds' `iss`).
pub const ISSUER: &str = "https://eventauth.fuzz";
/// Its audience (seeds' `aud`).
pub const AUDIENCE: &str = "eventauth";
/// The Ed25519 private key (seed bytes) access tokens are signed with here;
/// its `kid` is [`access_kid`].
const SIGNING_SEED: [u8; 32] = [7; 32];
/// The server secret the fuzzing key material derives sub-keys from.
const SERVER_SECRET: &str = "fuzzing-server-secret-0123456789abcdef";
/// The HS256 secret of the Open Archiver target.
pub const OPENARCHIVER_SECRET: &[u8] = b"fuzzing-openarchiver-jwt-secret";

// ---------------------------------------------------------------------------
// Shared fixtures, built once per process.

/// The token service every token entry point verifies with: real
/// [`KeyMaterial`] (from a configured PEM key and secret, so
/// [`KeyMaterial::load`] never touches its database) and [`Tokens::new`],
/// as `startup` builds them. `None` if that failed (the entry points then
/// do nothing: a set-up failure is not a finding).
fn tokens() -> Option<&'static (Tokens, String)> {
    static TOKENS: OnceLock<Option<(Tokens, String)>> = OnceLock::new();
    TOKENS
        .get_or_init(|| {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::from_bytes(&SIGNING_SEED);
            let pem = key
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .ok()?;
            let pem = SecretString::from(pem.as_str().to_string());
            let secret = SecretString::from(SERVER_SECRET.to_string());
            // A lazy pool without maintenance tasks: never connected (both
            // the key and the secret are configured), needs no runtime.
            let lazy = || {
                sqlx::sqlite::SqlitePoolOptions::new()
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy("sqlite::memory:")
                    .ok()
            };
            let db = projections::Db::Sqlite {
                reader: lazy()?,
                writer: lazy()?,
            };
            let keys = futures::executor::block_on(KeyMaterial::load(
                &db,
                Some(&pem),
                Some(&secret),
                Duration::from_secs(900),
            ))
            .ok()?;
            let kid = keys.signing.kid.clone();
            Some((
                Tokens::new(&keys, ISSUER, AUDIENCE, Duration::from_secs(900)),
                kid,
            ))
        })
        .as_ref()
}

/// The `kid` the fuzzing access tokens must carry (for making seeds).
pub fn access_kid() -> Option<String> {
    tokens().map(|(_, kid)| kid.clone())
}

/// The service provider of the SAML entry points: the test identity
/// provider of `tests/fixtures/saml/` (its certificate, compiled in),
/// configured through [`ServiceProvider::from_config`] as the service does.
fn service_provider() -> Option<&'static ServiceProvider> {
    static SP: OnceLock<Option<ServiceProvider>> = OnceLock::new();
    SP.get_or_init(|| {
        let config = SamlConfig {
            saml_idp_metadata: None,
            saml_idp_cert: Some(include_str!("../tests/fixtures/saml/idp.crt").to_string()),
            saml_idp_sso_url: Some(crate::saml::testing::SSO.to_string()),
            saml_idp_entity_id: Some(crate::saml::testing::IDP.to_string()),
            saml_idp_signout_url: None,
            saml_sp_entity_id: Some(crate::saml::testing::SP.to_string()),
            saml_acs_url: Some(crate::saml::testing::ACS.to_string()),
            saml_clock_skew: 5,
            saml_create_users: true,
            saml_name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
                .to_string(),
        };
        ServiceProvider::from_config(&config).ok().flatten()
    })
    .as_ref()
}

/// The test identity provider's signing key (compiled in), to sign what
/// the fuzzer writes so that it gets past the signature check.
fn idp_signing_keys() -> Option<&'static bergshamra_keys::KeysManager> {
    static KEYS: OnceLock<Option<bergshamra_keys::KeysManager>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = include_bytes!("../tests/fixtures/saml/idp.key");
        let key = bergshamra_keys::loader::load_pem_auto(pem, None).ok()?;
        let mut keys = bergshamra_keys::KeysManager::new();
        keys.add_key(key);
        Some(keys)
    })
    .as_ref()
}

/// `data` split at its first `\n`: (before, after); all of it and nothing
/// when there is none.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A compact JWT of these raw header and claims bytes (the fuzzer's, not
/// necessarily JSON) signed by `sign` over `<header>.<claims>`.
fn compact_jwt(header: &[u8], claims: &[u8], sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

// ---------------------------------------------------------------------------
// Credentials and cookies (src/http/extract.rs, src/http/cookies.rs,
// src/http/oauth.rs, the surfaces' cookie extractors).

/// Request headers as the service reads them. Each line of `data` is one
/// header: its first byte picks the name (`Cookie`, `Authorization`,
/// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Refresh-Token`-like), the
/// rest is the value; invalid values are dropped as `http` would refuse
/// them. Then every read the service does on them:
/// - the Cookie header through `CookieJar::from_headers` (as every surface
///   extractor), each surface's session cookie through the opaque-token
///   parse ([`Tokens::refresh_session`]) and [`hash_token`] (what
///   `cookie_sessions::resolve` does before touching the store), Kolibri's
///   `visitor_id` as `visitor_cookie` parses it;
/// - `Authorization: Bearer` as the `Auth` extractor strips it, then
///   [`Tokens::verify_access`]; `Authorization: Basic` as
///   `oauth::client_authenticated` decodes it;
/// - `X-Forwarded-For` through [`crate::http::extract::client_ip`] and
///   `X-Forwarded-Proto` through [`crate::http::cookies::over_https`], from
///   a trusted peer (the case where they are read at all).
pub fn headers(data: &[u8]) {
    const NAMES: [&str; 5] = [
        "cookie",
        "authorization",
        "x-forwarded-for",
        "x-forwarded-proto",
        "cookie",
    ];
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        let name = HeaderName::from_static(NAMES[usize::from(which) % NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }

    // Cookies, by the names the surfaces read.
    let jar = CookieJar::from_headers(&headers);
    for name in [
        crate::surfaces::kolibri::SESSION_COOKIE,
        crate::surfaces::backstack::SESSION_COOKIE,
        // ild's refresh cookie (`REFRESH_COOKIE`, private to `ild::sign`).
        "refreshToken",
    ] {
        if let Some(cookie) = jar.get(name) {
            let value = cookie.value();
            let _ = Tokens::refresh_session(value);
            let _ = Tokens::refresh_session(value.trim());
            let _ = hash_token(value);
        }
    }
    for cookie in jar.iter() {
        let _ = Tokens::refresh_session(cookie.value());
    }

    // Authorization.
    for value in headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        // The `Auth` extractor (src/http/extract.rs).
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            if let Some((tokens, _)) = tokens() {
                let _ = tokens.verify_access(token.trim());
            }
        }
    }
    // `client_authenticated` (src/http/oauth.rs).
    let _ = crate::http::oauth::basic_credentials(&headers);

    // Proxies' headers, from a trusted peer.
    let trusted: Vec<ipnet::IpNet> = ["10.0.0.0/8", "fd00::/8"]
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect();
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let _ = crate::http::extract::client_ip(peer, &headers, &trusted);
    let _ = crate::http::cookies::over_https(false, Some(peer), &headers, &trusted);
}

// ---------------------------------------------------------------------------
// Access tokens (src/auth/tokens.rs).

/// An access token as a client presents it. The first byte picks how the
/// rest is used:
/// - even: the rest is the token text, as sent: [`Tokens::verify_access`]
///   (JWT header, `kid`, EdDSA signature, claims), the opaque-token parse
///   and the Kolibri login-token check;
/// - odd: the rest is `<header JSON>\n<claims JSON>`, made into a JWT
///   signed with the service's own key, so that the claims' parsing and
///   validation after a good signature are reached too (a fuzzer cannot
///   forge a signature).
pub fn access_token(data: &[u8]) {
    let Some((tokens, _)) = tokens() else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let _ = Tokens::refresh_session(text);
        let _ = tokens.check_login_token(Uuid::nil(), text, chrono::Utc::now().timestamp());
        text.to_string()
    } else {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&SIGNING_SEED);
        let (header, claims) = split_line(rest);
        compact_jwt(header, claims, |input| key.sign(input).to_bytes().to_vec())
    };
    if let Some(claims) = tokens.verify_access(&token) {
        let _ = (claims.user_id(), claims.session_id(), claims.auth_time());
    }
}

// ---------------------------------------------------------------------------
// Open Archiver's HS256 tokens (src/surfaces/openarchiver/tokens.rs).

/// An Open Archiver token, read as `Signer::verify` reads it
/// ([`crate::surfaces::openarchiver::tokens::Signer::read`]: HS256 only,
/// `exp` and `sub` required, no leeway, the ids and the millisecond time);
/// the deny-list after it needs a running app. The first byte picks the mode as in [`access_token`]: the token text, or
/// `<header>\n<claims>` signed with the secret.
pub fn openarchiver_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        text.to_string()
    } else {
        let (header, claims) = split_line(rest);
        compact_jwt(header, claims, |input| {
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(OPENARCHIVER_SECRET) else {
                return Vec::new();
            };
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        })
    };
    // `Signer::verify` without the deny-list (which needs a running app).
    let _ = crate::surfaces::openarchiver::tokens::Signer::with_secret(OPENARCHIVER_SECRET)
        .read(&token);
}

// ---------------------------------------------------------------------------
// Pictures (src/images.rs) and the multipart body they come in.

/// A profile picture upload: [`crate::images::normalize`] with the default
/// pixel limit (`EVENTAUTH_MAX_IMAGE_PIXELS`, 40 M). Content sniffing,
/// header dimensions, decoding under limits, EXIF orientation, scaling and
/// re-encoding.
pub fn image(data: &[u8]) {
    let _ = crate::images::normalize(data, 40_000_000);
}

/// The multipart body of `PUT /user/profile` (ild), read as the handler
/// reads it ([`crate::surfaces::ild::profile::read_parts`]: 32 parts,
/// 16 KiB text fields, pictures up to `EVENTAUTH_MAX_IMAGE_BYTES`' default
/// of 10 MiB, UTF-8 text). The first line of `data` is the `Content-Type`
/// value (the boundary comes from it); its first byte sets the chunk size
/// the body arrives in (parts split across chunks); the rest is the body.
/// Pictures are not decoded here (the `image` target does that).
pub fn multipart(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let (content_type, body) = split_line(rest);
    let Ok(content_type) = std::str::from_utf8(content_type) else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let read = crate::surfaces::ild::profile::read_parts(
        futures::stream::iter(chunks),
        content_type,
        10 * 1024 * 1024,
    );
    let _ = futures::executor::block_on(read);
}

// ---------------------------------------------------------------------------
// Import rows (src/ops/import/parse.rs).

/// An import file, read and checked as `eventauth import` reads and checks
/// it ([`parse::rows_from`], [`parse::check`]). The first byte picks CSV
/// (even) or JSON lines (odd) and whether the facility lets learners in
/// without a password (bit 1).
pub fn import_rows(data: &[u8]) {
    use crate::ops::import::parse;
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let passwordless = mode & 2 != 0;
    let classrooms: parse::Classrooms = [
        ("Class A".to_string(), Uuid::from_u128(1)),
        ("Bäume 2".to_string(), Uuid::from_u128(2)),
    ]
    .into_iter()
    .collect();
    let Ok(rows) = parse::rows_from(std::io::Cursor::new(file.to_vec()), mode % 2 == 1) else {
        return;
    };
    for (line, row) in rows {
        if let Ok(row) = row {
            let _ = parse::check(line, row, passwordless, &classrooms);
        }
    }
}

// ---------------------------------------------------------------------------
// SAML (src/saml/verify.rs).

/// A `SAMLResponse` posted to the assertion consumer URL, through
/// [`ServiceProvider::verify`] of a service provider trusting the test
/// identity provider. The first byte picks the form of the rest:
/// - `% 3 == 0`: the form field as posted (base64 text, whitespace and all);
/// - `% 3 == 1`: the XML, base64-encoded here (so the fuzzer works on XML);
/// - `% 3 == 2`: the XML with its `ds:Signature` templates signed by the
///   identity provider's key first, so that a valid signature gets the
///   document past the signature check into the SAML rules
///   (`read_assertion`), as a real identity provider's response would.
pub fn saml_response(data: &[u8]) {
    let Some(sp) = service_provider() else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let encoded = match mode % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(text) => text.to_string(),
            Err(_) => return,
        },
        1 => STANDARD.encode(rest),
        _ => {
            let Ok(xml) = std::str::from_utf8(rest) else {
                return;
            };
            let Some(keys) = idp_signing_keys() else {
                return;
            };
            // Signing is the test identity provider's doing, not the
            // service's: what it refuses is not a finding.
            let ctx = bergshamra_dsig::DsigContext::new_permissive(keys.clone());
            match bergshamra_dsig::sign::sign(&ctx, xml) {
                Ok(signed) => STANDARD.encode(signed),
                Err(_) => return,
            }
        }
    };
    if let Ok(assertion) = sp.verify(&encoded, chrono::Utc::now()) {
        let _ = assertion.attribute("mail");
        let _ = assertion.attributes_named("role").count();
    }
}

// ---------------------------------------------------------------------------
// Text newtypes (src/input.rs) and other small parsers of request text.

/// Text a client sent, through every newtype of `src/input.rs` (`Email`,
/// `Username`, `PersonName`, `Password` both ways, `plain`, `parse_id`)
/// and the other parsers of one request string: picture keys
/// ([`crate::blobs::BlobKey::parse`], from a URL), stored-hash formats
/// ([`crate::auth::legacy::Legacy::parse`], from an import) and export
/// cursors ([`crate::ops::export::parse_cursor`]).
pub fn input_text(data: &[u8]) {
    use crate::input::{parse_id, plain, Email, Password, PersonName, Username};
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    if let Ok(email) = Email::parse(text, "email") {
        let _ = (email.as_str(), email.normalized());
    }
    if let Ok(username) = Username::parse(text, "username") {
        let _ = username.normalized();
    }
    let _ = PersonName::parse(text, "firstName");
    let _ = Password::presented(text.to_string(), "password");
    let _ = Password::new_password(text.to_string(), "password");
    let _ = plain(text, "search");
    let _ = parse_id(text, "id");
    if let Some(key) = crate::blobs::BlobKey::parse(text) {
        let _ = (key.hash(), key.content_type());
    }
    let _ = crate::auth::legacy::Legacy::parse(text);
    let _ = crate::ops::export::parse_cursor(text);
}
