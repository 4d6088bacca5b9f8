//! The text newtypes of src/input.rs and other one-string parsers (BlobKey, legacy hash formats, export cursors).
//! The entry point, and why it exists: `eventauth::fuzzing::input_text` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::input_text(data));
