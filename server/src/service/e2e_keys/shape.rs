//! The shape `/keys/upload` requires of what it stores: keys named `<algorithm>:<id>`, device
//! keys that name their device and carry its self-signature, signed one-time keys signed by
//! the uploading device. Signatures are checked for presence and form only; clients verify
//! them (and the server cannot tell a device's honest key from a lying one anyway).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{
    service::{Error, ErrorKind},
    storage::StoredKey,
};

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadJson, message)
}

/// Whether `object` carries a string signature by the device's own ed25519 key.
fn self_signed(object: &Value, user_id: &str, device_id: &str) -> bool {
    object["signatures"][user_id][format!("ed25519:{device_id}")].is_string()
}

/// Checks a device's identity keys before they are stored.
pub fn check_device_keys(keys: &Value, user_id: &str, device_id: &str) -> Result<(), Error> {
    if keys["user_id"] != user_id || keys["device_id"] != device_id {
        return Err(Error::new(
            ErrorKind::InvalidParam,
            "Device keys must name the uploading user and device",
        ));
    }
    if !keys["algorithms"]
        .as_array()
        .is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err(bad("Device keys need `algorithms`, a list of strings"));
    }
    let public = keys["keys"]
        .as_object()
        .ok_or_else(|| bad("Device keys need `keys`"))?;
    for (id, key) in public {
        let named = id
            .split_once(':')
            .is_some_and(|(algorithm, id)| !algorithm.is_empty() && id == device_id);
        if !named || !key.is_string() {
            return Err(bad(format!(
                "device key {id:?} must be `<algorithm>:{device_id}` with a string value"
            )));
        }
    }
    if !public.contains_key(&format!("ed25519:{device_id}")) {
        return Err(bad("Device keys need the device's ed25519 key"));
    }
    if !self_signed(keys, user_id, device_id) {
        return Err(bad(
            "Device keys must be signed by the device's ed25519 key",
        ));
    }
    Ok(())
}

/// Splits uploaded one-time or fallback keys (`<algorithm>:<id>` → key) for storage, checking
/// each; `signed_*` keys must be objects signed by the uploading device. With `one_per_algorithm`
/// (fallback keys) two keys of one algorithm are refused.
pub fn split_keys(
    keys: Map<String, Value>,
    user_id: &str,
    device_id: &str,
    one_per_algorithm: bool,
) -> Result<Vec<StoredKey>, Error> {
    let mut algorithms = BTreeSet::new();
    keys.into_iter()
        .map(|(id, key)| {
            let (algorithm, key_id) = id
                .split_once(':')
                .filter(|(a, k)| !a.is_empty() && !k.is_empty())
                .ok_or_else(|| bad(format!("key id {id:?} is not <algorithm>:<id>")))?;
            let well_formed = match &key {
                Value::String(_) => !algorithm.starts_with("signed_"),
                Value::Object(fields) => {
                    fields.get("key").is_some_and(Value::is_string)
                        && self_signed(&key, user_id, device_id)
                }
                _ => false,
            };
            if !well_formed {
                return Err(bad(format!(
                    "key {id:?} must be a signed object with `key` (or, unsigned, a string)"
                )));
            }
            if one_per_algorithm && !algorithms.insert(algorithm.to_owned()) {
                return Err(bad(format!(
                    "at most one fallback key per algorithm ({algorithm})"
                )));
            }
            Ok(StoredKey {
                algorithm: algorithm.to_owned(),
                key_id: key_id.to_owned(),
                key,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn device_keys() -> Value {
        json!({
            "user_id": "@a:x", "device_id": "DEV",
            "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": {"curve25519:DEV": "c", "ed25519:DEV": "e"},
            "signatures": {"@a:x": {"ed25519:DEV": "sig"}},
        })
    }

    #[test]
    fn well_formed_device_keys_pass() {
        assert!(check_device_keys(&device_keys(), "@a:x", "DEV").is_ok());
    }

    #[test]
    fn malformed_device_keys_are_refused() {
        let mut cases: Vec<(Value, ErrorKind)> = Vec::new();
        let mut other_device = device_keys();
        other_device["device_id"] = json!("OTHER");
        cases.push((other_device, ErrorKind::InvalidParam));
        let mut foreign_key_id = device_keys();
        foreign_key_id["keys"] = json!({"ed25519:DEV": "e", "curve25519:OTHER": "c"});
        cases.push((foreign_key_id, ErrorKind::BadJson));
        let mut no_ed25519 = device_keys();
        no_ed25519["keys"] = json!({"curve25519:DEV": "c"});
        cases.push((no_ed25519, ErrorKind::BadJson));
        let mut unsigned = device_keys();
        unsigned["signatures"] = json!({"@a:x": {"ed25519:OTHER": "sig"}});
        cases.push((unsigned, ErrorKind::BadJson));
        let mut algorithms = device_keys();
        algorithms["algorithms"] = json!("m.olm.v1.curve25519-aes-sha2");
        cases.push((algorithms, ErrorKind::BadJson));
        for (keys, kind) in cases {
            assert_eq!(
                check_device_keys(&keys, "@a:x", "DEV").unwrap_err().kind,
                kind,
                "{keys}"
            );
        }
    }

    #[test]
    fn one_time_keys_must_be_signed_by_the_device() {
        let signed = json!({"key": "k", "signatures": {"@a:x": {"ed25519:DEV": "s"}}});
        let upload = |id: &str, key: Value| {
            split_keys(Map::from_iter([(id.to_owned(), key)]), "@a:x", "DEV", false)
        };
        assert!(upload("signed_curve25519:AAAA", signed.clone()).is_ok());
        assert!(upload("curve25519:AAAA", json!("k")).is_ok());
        assert!(upload("signed_curve25519:AAAA", json!("k")).is_err());
        assert!(upload("signed_curve25519:AAAA", json!({"key": "k"})).is_err());
        assert!(upload("signed_curve25519", signed.clone()).is_err());
        let by_other = json!({"key": "k", "signatures": {"@a:x": {"ed25519:OTHER": "s"}}});
        assert!(upload("signed_curve25519:AAAA", by_other).is_err());
    }

    #[test]
    fn one_fallback_key_per_algorithm() {
        let signed =
            json!({"key": "k", "fallback": true, "signatures": {"@a:x": {"ed25519:DEV": "s"}}});
        let two = Map::from_iter([
            ("signed_curve25519:A".to_owned(), signed.clone()),
            ("signed_curve25519:B".to_owned(), signed),
        ]);
        assert!(split_keys(two.clone(), "@a:x", "DEV", true).is_err());
        assert_eq!(split_keys(two, "@a:x", "DEV", false).unwrap().len(), 2);
    }
}
