//! Request headers: Cookie (CookieJar, session/CSRF/visitor cookies, opaque-token parse), Authorization (Bearer -> JWT verify, Basic -> base64), X-Forwarded-For / -Proto.
//! The entry point, and why it exists: `eventauth::fuzzing::headers` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::headers(data));
