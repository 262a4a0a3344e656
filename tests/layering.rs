//! The safe core's files depend on each other in one direction. Each file
//! sits in a layer and may use only files of lower layers; a test, not a
//! convention, because a cycle is easy to add and hard to remove later.
//! The C layer (`src/capi/`) uses only what the crate root exports.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top. Files in one layer do not use each other.
const LAYERS: &[&[&str]] = &[
    &["value", "error", "clock"],
    &["deadline", "limits", "memory", "registry", "stats"],
    &["limiter", "shape", "cache", "wasi"],
    &["store", "runtime"],
    &["host_func", "exports"],
    &["linkers", "module"],
    &["compiled"],
    &["host"],
];

fn code_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    // Unit tests may use anything; comments and docs are not dependencies.
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .map(str::to_owned)
        .collect()
}

/// The crate-level names `lines` refer to: `crate::name` and the names in
/// `use crate::{a, b::c}`.
fn crate_refs(lines: &[String]) -> BTreeSet<String> {
    let text = lines.join("\n");
    let mut refs = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap()];
            for item in group.split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    refs.insert(item.split("::").next().unwrap().trim().to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            refs.insert(name);
        }
    }
    refs
}

fn layer_of(file: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&file))
}

#[test]
fn core_files_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(file) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_none_or(|e| e != "rs") || file == "lib" {
            continue;
        }
        let layer = layer_of(file).unwrap_or_else(|| panic!("src/{file}.rs is in no layer"));
        seen.push(file.to_owned());
        for used in crate_refs(&code_lines(&path)) {
            match layer_of(&used) {
                Some(l) if l < layer => {}
                Some(_) => wrong.push(format!("{file} (layer {layer}) uses {used}")),
                None => wrong.push(format!("{file} uses crate::{used}, which is no core file")),
            }
        }
    }
    let listed: usize = LAYERS.iter().map(|l| l.len()).sum();
    assert_eq!(seen.len(), listed, "a listed file is missing: {seen:?}");
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_c_layer_uses_only_the_public_api() {
    let capi = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/capi");
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&capi).unwrap() {
        let path = entry.unwrap().path();
        for used in crate_refs(&code_lines(&path)) {
            // A root item: re-exported by `pub use` (or defined) in lib.rs.
            let exported = lib.lines().any(|l| {
                let l = l.trim();
                (l.starts_with("pub use") && l.contains(used.as_str()))
                    || l.starts_with(&format!("pub const {used}"))
            }) && layer_of(&used).is_none();
            if !exported && used != "capi" {
                wrong.push(format!("{} uses crate::{used}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the C layer reaches into the core:\n{}",
        wrong.join("\n")
    );
}
