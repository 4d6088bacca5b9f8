//! Entry points for the `cargo fuzz` targets of `fuzz/` (issue 19): one
//! per parser that takes untrusted input, each taking the fuzzer's bytes.
//!
//! Not part of the service: nothing calls this module but `fuzz/`. It lives
//! inside the crate so that it can reach items the surfaces keep
//! `pub(crate)` or private to their module without changing their
//! visibility. Where the parser itself is private to its module (the
//! import's `parse`, the multipart reading of `ild::profile`, the HTTP
//! Basic check of `http::oauth`, the token half of Open Archiver's
//! `Signer::verify`), the entry point repeats the few lines around the
//! library calls and calls the crate's public pieces the same way; such
//! mirrors say so and name the original, which they must follow.
//!
//! Nothing here may panic by itself: a panic while an entry point runs is a
//! finding, in the crate or in a dependency. Setting-up that could fail
//! (keys, the test certificate) makes the entry point a no-op instead.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde::Deserialize;
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
    if let Some(cookie) = jar.get(crate::surfaces::kolibri::CSRF_COOKIE) {
        // `well_formed_csrf` (private to the Kolibri surface).
        let value = cookie.value();
        let _ =
            (32..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
    }
    if let Some(cookie) = jar.get(crate::surfaces::kolibri::VISITOR_COOKIE) {
        let _ = Uuid::try_parse(cookie.value())
            .ok()
            .filter(|id| id.get_version_num() == 4)
            .map(crate::surfaces::kolibri::hex_id);
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
        // `client_authenticated` (src/http/oauth.rs).
        if let Some(presented) = value
            .strip_prefix("Basic ")
            .and_then(|v| STANDARD.decode(v.trim()).ok())
        {
            let _ = <Sha256 as sha2::Digest>::digest(&presented);
        }
    }

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

/// An Open Archiver token. `Signer::verify` needs a whole [`crate::App`]
/// (its deny-list); this is its token half, line for line: HS256 only,
/// `exp` and `sub` required, no leeway, into the surface's own
/// [`crate::surfaces::openarchiver::tokens::Claims`], then the ids and the
/// millisecond time it reads. Keep it in step with `Signer::verify`. The
/// first byte picks the mode as in [`access_token`]: the token text, or
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
    // As `Signer::verify`.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.leeway = 0;
    let Ok(decoded) = jsonwebtoken::decode::<crate::surfaces::openarchiver::tokens::Claims>(
        &token,
        &DecodingKey::from_secret(OPENARCHIVER_SECRET),
        &validation,
    ) else {
        return;
    };
    let claims = decoded.claims;
    let _ = Uuid::try_parse(&claims.sub);
    let _ = Uuid::try_parse(&claims.sid);
    let _ = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(claims.auth_ms);
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

/// The multipart body of `PUT /user/profile` (ild). `read_multipart` in
/// `src/surfaces/ild/profile.rs` takes an `App` and a `Request`; this is
/// its loop, line for line (same limits: 32 parts, 16 KiB text fields,
/// 10 MiB pictures — `EVENTAUTH_MAX_IMAGE_BYTES`' default —, UTF-8 text).
/// Keep it in step. The first line of `data` is the `Content-Type` value
/// (the boundary comes from it); its first byte sets the chunk size the
/// body arrives in (parts split across chunks); the rest is the body.
/// Pictures are not decoded here (the `image` target does that).
pub fn multipart(data: &[u8]) {
    const MAX_TEXT_FIELD: usize = 16 * 1024;
    const MAX_PARTS: usize = 32;
    const MAX_IMAGE: usize = 10 * 1024 * 1024;
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let (content_type, body) = split_line(rest);
    let Ok(content_type) = std::str::from_utf8(content_type) else {
        return;
    };
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures::stream::iter(chunks);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let hard_cap = (MAX_IMAGE * 4).max(64 * 1024 * 1024);
    let read = async {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut image: Option<Bytes> = None;
        let mut too_large = false;
        let mut seen = 0usize;
        let mut parts = 0usize;
        while let Some(mut field) = multipart.next_field().await.ok()? {
            parts += 1;
            if parts > MAX_PARTS {
                return None;
            }
            let name = field.name().unwrap_or_default().to_string();
            let limit = if name == "profileImage" {
                MAX_IMAGE
            } else {
                MAX_TEXT_FIELD
            };
            let mut buffer = bytes::BytesMut::new();
            while let Some(chunk) = field.chunk().await.ok()? {
                seen += chunk.len();
                if seen > hard_cap {
                    return None;
                }
                if too_large || buffer.len() + chunk.len() > limit {
                    too_large = true;
                    buffer.clear();
                    continue;
                }
                buffer.extend_from_slice(&chunk);
            }
            if too_large {
                continue;
            }
            if name == "profileImage" {
                if image.is_some() {
                    return None;
                }
                if !buffer.is_empty() {
                    image = Some(buffer.freeze());
                }
            } else {
                let text = String::from_utf8(buffer.to_vec()).ok()?;
                fields.push((name, text));
            }
        }
        Some((fields, image))
    };
    let _ = futures::executor::block_on(read);
}

// ---------------------------------------------------------------------------
// Import rows (src/ops/import/parse.rs).

/// A row of an import file, as `parse::Row` (private to the import):
/// the same fields and serde attributes. Keep it in step.
#[derive(Default, Deserialize)]
struct Row {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
    #[serde(default, alias = "id_number")]
    identifier: Option<String>,
    #[serde(default)]
    birth_year: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    enrolled_in: Option<String>,
    #[serde(default)]
    assigned_to: Option<String>,
}

/// An import file. `parse::rows` and `parse::check` are private to
/// `ops::import` and `rows` opens a path; this is both, line for line:
/// the same CSV reader settings (`flexible`, headers) or JSON lines, the
/// same row, then `check`'s steps on the crate's own rules
/// ([`crate::service::facility_users::check_fields`],
/// [`crate::auth::password::is_supported_hash`]). Keep it in step. The
/// first byte picks CSV (even) or JSON lines (odd) and whether the
/// facility lets learners in without a password (bit 1).
pub fn import_rows(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let passwordless = mode & 2 != 0;
    let classrooms: HashMap<String, Uuid> = [
        ("Class A".to_string(), Uuid::from_u128(1)),
        ("Bäume 2".to_string(), Uuid::from_u128(2)),
    ]
    .into_iter()
    .collect();
    if mode % 2 == 1 {
        use std::io::BufRead;
        for line in std::io::BufReader::new(file).lines() {
            let Ok(text) = line else {
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            if let Ok(row) = serde_json::from_str::<Row>(&text) {
                check_row(row, passwordless, &classrooms);
            }
        }
    } else {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let Ok(headers) = reader.headers().cloned() else {
            return;
        };
        for record in reader.into_records() {
            let Ok(record) = record else {
                continue;
            };
            let _ = record.position().map_or(0, |p| p.line() as usize);
            if let Ok(row) = record.deserialize::<Row>(Some(&headers)) {
                check_row(row, passwordless, &classrooms);
            }
        }
    }
}

/// `parse::check`, without building its private `Ready`.
fn check_row(row: Row, passwordless: bool, classrooms: &HashMap<String, Uuid>) {
    use crate::service::facility_users::{check_fields, Fields, NOT_SPECIFIED};
    let named = |list: Option<&str>| -> Result<Vec<Uuid>, String> {
        list.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                classrooms
                    .get(name)
                    .copied()
                    .ok_or_else(|| format!("no classroom {name:?} in the facility"))
            })
            .collect()
    };
    if named(row.enrolled_in.as_deref()).is_err() || named(row.assigned_to.as_deref()).is_err() {
        return;
    }
    match row
        .user_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None
        | Some("")
        | Some("learner")
        | Some("admin")
        | Some("coach")
        | Some("facility_coach")
        | Some("classroom_coach")
        | Some("assignable_coach") => {}
        Some(_) => return,
    }
    let hash = row.password_hash.filter(|h| !h.is_empty());
    if hash.is_some() && row.password.as_deref().is_some_and(|p| !p.is_empty()) {
        return;
    }
    let fields = Fields {
        username: row.username,
        password: match (&hash, row.password) {
            (Some(_), _) => Some("-".into()),
            (None, None) => Some(NOT_SPECIFIED.into()),
            (None, Some(p)) if p.is_empty() => Some(NOT_SPECIFIED.into()),
            (None, password) => password,
        },
        full_name: row.full_name,
        gender: row.gender,
        birth_year: row.birth_year,
        id_number: row.identifier,
    };
    let Ok(checked) = check_fields(fields, passwordless) else {
        return;
    };
    let _ = checked.username.normalized();
    if let Some(hash) = hash {
        let _ = crate::auth::password::is_supported_hash(&hash);
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
