//! Profile pictures: images::normalize (sniff, dimensions, decode under limits, orientation, re-encode).
//! The entry point, and why it exists: `eventauth::fuzzing::image` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::image(data));
