//! Canonical JSON, as defined in the spec's appendix "Signing JSON": object keys sorted by code
//! point, no insignificant whitespace, UTF-8 output with only the mandatory escapes, integers
//! only, in the range [-(2^53)+1, 2^53-1].
//!
//! A number written with an exponent or a fraction is accepted when its value is an integer in
//! range (the spec's own examples turn `1e10` into `10000000000` and `-0` into `0`).

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// The largest magnitude an integer may have in canonical JSON: 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalJsonError {
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("number {0} is not an integer in [-(2^53)+1, 2^53-1]")]
    NumberOutOfRange(String),
}

/// Parses JSON text and returns its canonical form.
pub fn canonicalize_str(text: &str) -> Result<String, CanonicalJsonError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| CanonicalJsonError::Syntax(e.to_string()))?;
    canonicalize(&value)
}

/// Returns the canonical form of a JSON value.
pub fn canonicalize(value: &Value) -> Result<String, CanonicalJsonError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>) -> Result<(), CanonicalJsonError> {
    // serde_json's default Map is a BTreeMap<String, _>: iteration is already in byte order,
    // which for UTF-8 is code point order. The sort below is a no-op then, and keeps this
    // correct if a dependency ever enables `preserve_order`.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value)?;
    }
    out.push('}');
    Ok(())
}

fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalJsonError> {
    let int = if let Some(i) = n.as_i64() {
        Some(i)
    } else if n.is_u64() {
        None
    } else {
        n.as_f64().and_then(|f| {
            let in_range = f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64;
            // Truncation is exact: `f` is integral and within 2^53.
            in_range.then_some(f as i64)
        })
    };
    match int {
        Some(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => {
            write!(out, "{i}").expect("writing to a String cannot fail");
            Ok(())
        }
        _ => Err(CanonicalJsonError::NumberOutOfRange(n.to_string())),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                write!(out, "\\u{:04x}", c as u32).expect("writing to a String cannot fail");
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn spec_vectors_when_canonicalised_match_expected_text() {
        let vectors: Value = serde_json::from_str(include_str!(
            "../../../fixtures/matrix-spec/test-vectors/canonical_json.json"
        ))
        .unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let input = case["input_text"].as_str().unwrap();
            let expected = case["expected_canonical"].as_str().unwrap();
            assert_eq!(canonicalize_str(input).unwrap(), expected, "input: {input}");
        }
    }

    #[test]
    fn integers_out_of_range_are_rejected() {
        assert!(canonicalize(&json!({"a": 9007199254740992_i64})).is_err());
        assert!(canonicalize(&json!({"a": -9007199254740992_i64})).is_err());
        assert!(canonicalize(&json!({"a": u64::MAX})).is_err());
        assert!(canonicalize(&json!({"a": 1.5})).is_err());
        assert_eq!(
            canonicalize(&json!(9007199254740991_i64)).unwrap(),
            "9007199254740991"
        );
    }

    #[test]
    fn control_characters_use_short_or_lowercase_hex_escapes() {
        assert_eq!(
            canonicalize(&json!("\u{1}\n\u{1f}")).unwrap(),
            r#""\u0001\n\u001f""#
        );
        assert_eq!(canonicalize(&json!("é/\u{7f}")).unwrap(), "\"é/\u{7f}\"");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(|i| json!(i)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_form_round_trips_and_is_a_fixed_point(value in arb_json()) {
            let text = canonicalize(&value).unwrap();
            let reparsed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&reparsed, &value);
            prop_assert_eq!(canonicalize_str(&text).unwrap(), text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".*") {
            let _ = canonicalize_str(&text);
        }
    }
}
