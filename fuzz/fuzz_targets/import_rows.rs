//! Import files (src/ops/import/parse.rs): CSV or JSON lines, each row checked as parse::check does.
//! The entry point, and why it exists: `eventauth::fuzzing::import_rows` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventauth::fuzzing::import_rows(data));
