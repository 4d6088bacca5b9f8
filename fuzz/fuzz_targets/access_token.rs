//! EdDSA access tokens (src/auth/tokens.rs): verify_access on raw text, or on fuzzer-chosen header/claims signed with the service key.
//! The entry point, and why it exists: `eventauth::fuzzing::access_token` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::access_token(data));
