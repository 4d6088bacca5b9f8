//! The house rules no compiler checks: the core never imports a surface,
//! and the shared plumbing names none.
//!
//! - The core — use cases (`src/service`), authorization (`src/access`),
//!   credentials (`src/auth`), the store, the log consumers, operator
//!   tools, and the `aggregates` and `projections` crates — imports nothing
//!   of `src/surfaces`.
//! - The shared edge (`src/http`, `src/startup.rs`, `src/app.rs`, the CLI)
//!   uses the surfaces only through the `Surface` trait and `surfaces::all`,
//!   never one surface by name.

use std::path::{Path, PathBuf};

fn rust_files(under: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![under.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("readable directory") {
                pending.push(entry.expect("directory entry").path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Lines of code (comments dropped: a comment may name anything).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .expect("readable source")
        .lines()
        .enumerate()
        .map(|(at, line)| {
            (
                at + 1,
                line.split("//").next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every line of `roots` where `forbidden` says a rule is broken.
fn offences(roots: &[&str], forbidden: impl Fn(&str) -> bool) -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for root in roots {
        let root = base.join(root);
        // `src/store.rs` or `src/store/`: whichever exists.
        let files = if root.is_dir() {
            rust_files(&root)
        } else if root.exists() {
            vec![root]
        } else {
            Vec::new()
        };
        for file in files {
            for (at, line) in code_lines(&file) {
                if forbidden(&line) {
                    let shown = file.strip_prefix(base).unwrap_or(&file).display();
                    found.push(format!("{shown}:{at}: {}", line.trim()));
                }
            }
        }
    }
    found
}

const CORE: &[&str] = &[
    "src/service",
    "src/access",
    "src/auth",
    "src/consumers",
    "src/store.rs",
    "src/store",
    "src/ops",
    "src/input.rs",
    "src/error.rs",
    "src/mail.rs",
    "src/blobs.rs",
    "src/images.rs",
    "src/observe.rs",
    "aggregates/src",
    "projections/src",
];

const SHARED_EDGE: &[&str] = &[
    "src/http",
    "src/startup.rs",
    "src/app.rs",
    "src/cli.rs",
    "src/main.rs",
];

/// Whether a line reaches into the surfaces.
fn imports_surfaces(line: &str) -> bool {
    line.contains("surfaces::") || line.contains("surfaces::{") || line.contains("mod surfaces")
}

/// Whether a line names one surface's module (not the trait or registry).
fn names_a_surface(line: &str) -> bool {
    let allowed = |name: &str| matches!(name.trim(), "Surface" | "all" | "self" | "");
    line.split("surfaces::")
        .skip(1)
        .any(|rest| match rest.strip_prefix('{') {
            Some(group) => !group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .all(allowed),
            None => {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                !allowed(&name)
            }
        })
}

#[test]
fn the_core_imports_no_surface() {
    let found = offences(CORE, imports_surfaces);
    assert!(
        found.is_empty(),
        "the core must not import src/surfaces:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_shared_edge_names_no_surface() {
    let found = offences(SHARED_EDGE, names_a_surface);
    assert!(
        found.is_empty(),
        "shared code uses surfaces only through the Surface trait and surfaces::all:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rules_see_what_they_must() {
    // The checks themselves: an import is caught, the registry is not.
    assert!(imports_surfaces("use crate::surfaces::kolibri::SURFACE;"));
    assert!(imports_surfaces("use crate::surfaces::{self, Surface};"));
    assert!(!imports_surfaces("let surfaces = all();"));
    assert!(names_a_surface("crate::surfaces::ild::Ild::render(&e)"));
    assert!(names_a_surface(
        "use eventauth::surfaces::{kolibri, Surface};"
    ));
    assert!(!names_a_surface("use crate::surfaces::{self, Surface};"));
    assert!(!names_a_surface("let all = crate::surfaces::all(&config);"));
}
