//! Server signing keys, JSON signatures and event hashes.
//!
//! The cryptography is ruma's (`ruma::signatures`, ed25519-dalek underneath); this module owns
//! the key format and the conversions between `serde_json` values and ruma's canonical JSON.
//!
//! Key file format (the one Synapse uses, so keys move between servers): one line
//! `ed25519 <version> <unpadded base64 of the 32-byte seed>`.

use base64::{
    Engine as _, alphabet,
    engine::{
        DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD_NO_PAD,
    },
};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue,
    room_version_rules::RedactionRules,
    signatures::{self, Ed25519KeyPair, PublicKeyMap},
};
use serde_json::Value;

/// PKCS#8 v1 prefix for an Ed25519 private key (RFC 8410): the DER of
/// `PrivateKeyInfo { version 0, algorithm id-Ed25519, privateKey OCTET STRING(OCTET STRING(seed)) }`
/// up to the 32 seed bytes.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Accepts padded or unpadded input and non-zero trailing bits: the spec's own test seed has
/// them, and other servers' key files are written by encoders that do not clear them.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("key file: {0}")]
    KeyFormat(String),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("not canonical JSON: {0}")]
    Canonical(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("signature check failed: {0}")]
    Verify(String),
}

/// An ed25519 server signing key (`ed25519:<version>`).
pub struct SigningKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Builds a key from its 32-byte seed. `version` is the part after `ed25519:`.
    pub fn from_seed(version: &str, seed: [u8; 32]) -> Result<Self, SigningError> {
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SigningError::KeyFormat(format!(
                "key version `{version}` must be non-empty [a-zA-Z0-9_]"
            )));
        }
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_ED25519_PREFIX);
        der.extend_from_slice(&seed);
        let pair = Ed25519KeyPair::from_der(&der, version.to_owned())
            .map_err(|e| SigningError::KeyFormat(e.to_string()))?;
        Ok(Self { seed, pair })
    }

    /// Parses the one-line key file format.
    pub fn from_key_file(text: &str) -> Result<Self, SigningError> {
        let line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [algorithm, version, seed_b64] = parts[..] else {
            return Err(SigningError::KeyFormat(
                "expected `ed25519 <version> <base64 seed>`".to_owned(),
            ));
        };
        if algorithm != "ed25519" {
            return Err(SigningError::KeyFormat(format!(
                "unsupported algorithm `{algorithm}`"
            )));
        }
        let seed = LENIENT_BASE64
            .decode(seed_b64)
            .map_err(|e| SigningError::KeyFormat(format!("seed is not base64: {e}")))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| SigningError::KeyFormat("seed must be 32 bytes".to_owned()))?;
        Self::from_seed(version, seed)
    }

    pub fn to_key_file(&self) -> String {
        format!(
            "ed25519 {} {}\n",
            self.pair.version(),
            STANDARD_NO_PAD.encode(self.seed)
        )
    }

    /// `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.pair.version())
    }

    pub fn public_key_base64(&self) -> String {
        STANDARD_NO_PAD.encode(self.pair.public_key())
    }

    /// Adds this key's signature for `entity` to `object` (a JSON object).
    pub fn sign_json(&self, entity: &str, object: &mut Value) -> Result<(), SigningError> {
        let mut canonical = to_canonical_object(object)?;
        signatures::sign_json(entity, &self.pair, &mut canonical)
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        *object = from_canonical_object(canonical);
        Ok(())
    }

    /// Adds the content hash and this key's signature to an event (a PDU), redacting per
    /// `rules` for the signature as the spec requires.
    pub fn hash_and_sign_event(
        &self,
        entity: &str,
        event: &mut Value,
        rules: &RedactionRules,
    ) -> Result<(), SigningError> {
        let mut canonical = to_canonical_object(event)?;
        signatures::hash_and_sign_event(entity, &self.pair, &mut canonical, rules)
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        *event = from_canonical_object(canonical);
        Ok(())
    }

    /// The public half as `{"<server>": {"ed25519:<v>": "<base64>"}}` for verification.
    pub fn public_key_map(&self, entity: &str) -> PublicKeyMap {
        let key = ruma::serde::Base64::new(self.pair.public_key().to_vec());
        PublicKeyMap::from([(entity.to_owned(), [(self.key_id(), key)].into())])
    }
}

/// Checks that every entity that signed `object` did so with a key in `keys`.
pub fn verify_json(keys: &PublicKeyMap, object: &Value) -> Result<(), SigningError> {
    let canonical = to_canonical_object(object)?;
    signatures::verify_json(keys, &canonical).map_err(|e| SigningError::Verify(e.to_string()))
}

/// Checks the one signature `signer` made on `object` with `key_id` (`ed25519:<id>`), against
/// `public_key` (base64); signatures by anyone else on the object are ignored. Cross-signing
/// uses this: a key carries signatures of several users and devices, and each is checked on
/// its own.
pub fn verify_signature(
    object: &Value,
    signer: &str,
    key_id: &str,
    public_key: &str,
) -> Result<(), SigningError> {
    let signature = object["signatures"][signer][key_id]
        .as_str()
        .ok_or_else(|| SigningError::Verify(format!("no signature by {signer} with {key_id}")))?;
    let key = LENIENT_BASE64
        .decode(public_key)
        .map_err(|e| SigningError::Verify(format!("public key: {e}")))?;
    let mut alone = object.clone();
    alone["signatures"] = serde_json::json!({ signer: { key_id: signature } });
    let keys = PublicKeyMap::from([(
        signer.to_owned(),
        [(key_id.to_owned(), ruma::serde::Base64::new(key))].into(),
    )]);
    verify_json(&keys, &alone)
}

fn to_canonical_object(value: &Value) -> Result<CanonicalJsonObject, SigningError> {
    match CanonicalJsonValue::try_from(value.clone()) {
        Ok(CanonicalJsonValue::Object(object)) => Ok(object),
        Ok(_) => Err(SigningError::NotAnObject),
        Err(e) => Err(SigningError::Canonical(e.to_string())),
    }
}

fn from_canonical_object(object: CanonicalJsonObject) -> Value {
    Value::from(CanonicalJsonValue::Object(object))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn vectors() -> Value {
        serde_json::from_str(include_str!(
            "../../../fixtures/matrix-spec/test-vectors/signing.json"
        ))
        .unwrap()
    }

    fn spec_key(v: &Value) -> SigningKey {
        let seed = v["signing_key_seed_unpadded_base64"].as_str().unwrap();
        let version = v["key_id"]
            .as_str()
            .unwrap()
            .strip_prefix("ed25519:")
            .unwrap();
        SigningKey::from_key_file(&format!("ed25519 {version} {seed}")).unwrap()
    }

    #[test]
    fn spec_seed_derives_the_published_public_key() {
        let v = vectors();
        assert_eq!(
            spec_key(&v).public_key_base64(),
            v["derived_public_key_unpadded_base64"].as_str().unwrap()
        );
    }

    #[test]
    fn spec_json_signing_vectors_produce_expected_signatures() {
        let v = vectors();
        let key = spec_key(&v);
        let server = v["server_name"].as_str().unwrap();
        for case in v["json_signing"].as_array().unwrap() {
            let mut object = case["input"].clone();
            key.sign_json(server, &mut object).unwrap();
            assert_eq!(object, case["expected"]);
            verify_json(&key.public_key_map(server), &object).unwrap();
        }
    }

    #[test]
    fn spec_event_signing_vectors_produce_expected_hashes_and_signatures() {
        let v = vectors();
        let key = spec_key(&v);
        let server = v["server_name"].as_str().unwrap();
        for case in v["event_signing"].as_array().unwrap() {
            let mut event = case["input"].clone();
            key.hash_and_sign_event(server, &mut event, &RedactionRules::V1)
                .unwrap();
            assert_eq!(event, case["expected"], "{}", case["note"]);
        }
    }

    #[test]
    fn tampered_json_fails_verification() {
        let v = vectors();
        let key = spec_key(&v);
        let mut object = serde_json::json!({"one": 1, "two": "Two"});
        key.sign_json("domain", &mut object).unwrap();
        object["two"] = Value::from("Three");
        assert!(verify_json(&key.public_key_map("domain"), &object).is_err());
    }

    #[test]
    fn signature_from_another_key_fails_verification() {
        let v = vectors();
        let key = spec_key(&v);
        let other = SigningKey::from_seed("1", [7; 32]).unwrap();
        let mut object = serde_json::json!({"a": 1});
        other.sign_json("domain", &mut object).unwrap();
        assert!(verify_json(&key.public_key_map("domain"), &object).is_err());
    }

    #[test]
    fn one_signature_is_checked_among_others() {
        let device = SigningKey::from_seed("DEV", [1; 32]).unwrap();
        let stranger = SigningKey::from_seed("X", [2; 32]).unwrap();
        let mut object = serde_json::json!({"keys": {"ed25519:K": "K"}, "usage": ["master"]});
        device.sign_json("@a:x", &mut object).unwrap();
        stranger.sign_json("@b:y", &mut object).unwrap();
        let public = device.public_key_base64();
        assert!(verify_signature(&object, "@a:x", "ed25519:DEV", &public).is_ok());
        assert!(
            verify_signature(
                &object,
                "@a:x",
                "ed25519:DEV",
                &stranger.public_key_base64()
            )
            .is_err(),
            "checked against the wrong key"
        );
        assert!(verify_signature(&object, "@a:x", "ed25519:NONE", &public).is_err());
        object["usage"] = serde_json::json!(["self_signing"]);
        assert!(verify_signature(&object, "@a:x", "ed25519:DEV", &public).is_err());
    }

    #[test]
    fn key_file_round_trips() {
        let key = SigningKey::from_seed("a_bcD1", [42; 32]).unwrap();
        let again = SigningKey::from_key_file(&key.to_key_file()).unwrap();
        assert_eq!(again.key_id(), "ed25519:a_bcD1");
        assert_eq!(again.public_key_base64(), key.public_key_base64());
    }

    #[test]
    fn malformed_key_files_are_rejected() {
        for text in [
            "",
            "ed25519 a",
            "rsa a AAAA",
            "ed25519 a AAAA",
            "ed25519 a/b AAAA",
            "ed25519 a %%%",
        ] {
            assert!(SigningKey::from_key_file(text).is_err(), "{text:?}");
        }
    }
}
