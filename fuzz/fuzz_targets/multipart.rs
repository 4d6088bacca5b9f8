//! The multipart body of PUT /user/profile (ild), read as read_multipart does.
//! The entry point, and why it exists: `eventauth::fuzzing::multipart` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::multipart(data));
