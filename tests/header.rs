//! The committed header must be exactly what cbindgen generates from
//! src/capi now. `SBX_BLESS=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("read cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = root.join("include/sbx.h");
    if std::env::var_os("SBX_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/sbx.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/sbx.h is stale: run `make header` and commit the result"
    );
}
