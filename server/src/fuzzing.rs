//! Fuzz bodies as plain functions, so the same code runs under cargo-fuzz (`fuzz/`), under
//! proptest, and over the committed corpora in `cargo test` (`tests/fuzz_corpora.rs`).
//! Each must accept any bytes without panicking.

/// Canonical JSON on arbitrary text: either an error, or a fixed point of canonicalisation.
pub fn canonical_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(canonical) = crate::core::canonical_json::canonicalize_str(text) {
        let again = crate::core::canonical_json::canonicalize_str(&canonical)
            .expect("canonical output must parse again");
        assert_eq!(again, canonical, "canonicalisation must be idempotent");
    }
}

/// The config parser on arbitrary text: an error or a config that passes validation.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = crate::config::Config::from_toml(text) {
        config.validate().expect("a parsed config is valid");
    }
}
