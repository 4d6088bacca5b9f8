//! Open Archiver HS256 tokens (src/surfaces/openarchiver/tokens.rs), the token half of Signer::verify.
//! The entry point, and why it exists: `eventauth::fuzzing::openarchiver_token` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::openarchiver_token(data));
