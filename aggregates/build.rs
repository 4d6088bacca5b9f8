//! Fingerprints the aggregates' source, so snapshots of aggregate state
//! (taken by the store) are retaken whenever the state or its fold may have
//! changed: a snapshot is only read by a build with the same fingerprint.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src");
    let mut sources = Vec::new();
    files(Path::new("src"), &mut sources)?;
    sources.sort();
    // FNV-1a, 64 bits: stable across compilers and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &sources {
        let name = path.to_string_lossy().replace('\\', "/");
        for byte in name.bytes().chain([0]).chain(std::fs::read(path)?) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=AGGREGATES_SOURCE_FINGERPRINT={hash:016x}");
    Ok(())
}
