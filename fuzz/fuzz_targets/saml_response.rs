//! SAMLResponse -> base64 -> XML -> signature -> SAML rules (ServiceProvider::verify).
//! The entry point, and why it exists: `eventauth::fuzzing::saml_response` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::saml_response(data));
