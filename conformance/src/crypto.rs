//! The client side of end-to-end encryption for cases: vodozemac Olm accounts behind device
//! keys, ed25519 keypairs for cross-signing, and the canonical JSON both sign. Everything a
//! case uploads is really signed, so a server that checks signatures accepts it and one that
//! does not cannot tell the difference.

use serde_json::{Map, Value, json};
use vodozemac::{Ed25519Keypair, Ed25519Signature, olm::Account};

use crate::client::UserSession;

pub const OLM: &str = "m.olm.v1.curve25519-aes-sha2";
pub const MEGOLM: &str = "m.megolm.v1.aes-sha2";
pub const SIGNED_CURVE25519: &str = "signed_curve25519";

/// The spec's canonical JSON: keys sorted at every level, no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(fields) => {
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    out.insert(key.clone(), sorted(&fields[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json keeps insertion order only with `preserve_order`; sorting first makes the
    // output canonical either way.
    serde_json::to_string(&sorted(value)).expect("JSON values always serialize")
}

/// Adds `signer`'s signature with `key_id` to `object`, over the object without its
/// `signatures` and `unsigned`, keeping the signatures already there.
pub fn sign(
    object: &mut Value,
    signer: &str,
    key_id: &str,
    sign: impl FnOnce(&[u8]) -> Ed25519Signature,
) {
    let mut signed_part = object.clone();
    if let Some(fields) = signed_part.as_object_mut() {
        fields.remove("signatures");
        fields.remove("unsigned");
    }
    let signature = sign(canonical_json(&signed_part).as_bytes()).to_base64();
    if !object["signatures"].is_object() {
        object["signatures"] = json!({});
    }
    if !object["signatures"][signer].is_object() {
        object["signatures"][signer] = json!({});
    }
    object["signatures"][signer][key_id] = json!(signature);
}

/// A device with a real Olm account.
pub struct Device {
    pub user_id: String,
    pub device_id: String,
    pub account: Account,
}

impl Device {
    pub fn new(session: &UserSession) -> Self {
        Self {
            user_id: session.user_id.clone(),
            device_id: session.device_id.clone(),
            account: Account::new(),
        }
    }

    pub fn ed25519_key_id(&self) -> String {
        format!("ed25519:{}", self.device_id)
    }

    /// The device keys, self-signed, as `/keys/upload` takes them.
    pub fn device_keys(&self) -> Value {
        let mut keys = json!({
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": [OLM, MEGOLM],
            "keys": {
                format!("curve25519:{}", self.device_id): self.account.curve25519_key().to_base64(),
                self.ed25519_key_id(): self.account.ed25519_key().to_base64(),
            },
        });
        let key_id = self.ed25519_key_id();
        sign(&mut keys, &self.user_id, &key_id, |m| self.account.sign(m));
        keys
    }

    /// `count` new one-time keys, signed, as `/keys/upload` takes them.
    pub fn one_time_keys(&mut self, count: usize) -> Value {
        self.account.generate_one_time_keys(count);
        let keys: Vec<_> = self.account.one_time_keys().into_iter().collect();
        self.account.mark_keys_as_published();
        let mut out = Map::new();
        for (id, key) in keys {
            out.insert(
                format!("{SIGNED_CURVE25519}:{}", id.to_base64()),
                self.signed_curve25519(key.to_base64(), false),
            );
        }
        Value::Object(out)
    }

    /// A new fallback key, signed, as `/keys/upload` takes it.
    pub fn fallback_key(&mut self) -> Value {
        self.account.generate_fallback_key();
        let mut out = Map::new();
        for (id, key) in self.account.fallback_key() {
            out.insert(
                format!("{SIGNED_CURVE25519}:{}", id.to_base64()),
                self.signed_curve25519(key.to_base64(), true),
            );
        }
        Value::Object(out)
    }

    fn signed_curve25519(&self, key: String, fallback: bool) -> Value {
        let mut object = json!({ "key": key });
        if fallback {
            object["fallback"] = json!(true);
        }
        let key_id = self.ed25519_key_id();
        sign(&mut object, &self.user_id, &key_id, |m| {
            self.account.sign(m)
        });
        object
    }
}

/// A user's three cross-signing keys.
pub struct CrossSigning {
    pub user_id: String,
    pub master: Ed25519Keypair,
    pub self_signing: Ed25519Keypair,
    pub user_signing: Ed25519Keypair,
}

impl CrossSigning {
    pub fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            master: Ed25519Keypair::new(),
            self_signing: Ed25519Keypair::new(),
            user_signing: Ed25519Keypair::new(),
        }
    }

    pub fn public(keypair: &Ed25519Keypair) -> String {
        keypair.public_key().to_base64()
    }

    pub fn key_id(keypair: &Ed25519Keypair) -> String {
        format!("ed25519:{}", Self::public(keypair))
    }

    /// One key object of `usage`; signed by the master key unless it is the master key.
    pub fn key(&self, usage: &str, keypair: &Ed25519Keypair) -> Value {
        let public = Self::public(keypair);
        let mut key = json!({
            "user_id": self.user_id,
            "usage": [usage],
            "keys": { format!("ed25519:{public}"): public },
        });
        if usage != "master" {
            self.sign_with(&self.master, &mut key);
        }
        key
    }

    /// Signs `object` as this user with `keypair`.
    pub fn sign_with(&self, keypair: &Ed25519Keypair, object: &mut Value) {
        let key_id = Self::key_id(keypair);
        sign(object, &self.user_id, &key_id, |m| keypair.sign(m));
    }

    /// The body of `/keys/device_signing/upload` with all three keys.
    pub fn upload_body(&self) -> Value {
        json!({
            "master_key": self.key("master", &self.master),
            "self_signing_key": self.key("self_signing", &self.self_signing),
            "user_signing_key": self.key("user_signing", &self.user_signing),
        })
    }
}
