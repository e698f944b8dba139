//! The client side of end-to-end encryption for cases: vodozemac Olm accounts behind device
//! keys, ed25519 keypairs for cross-signing, and the canonical JSON both sign. Everything a
//! case uploads is really signed, so a server that checks signatures accepts it and one that
//! does not cannot tell the difference.

use serde_json::{Map, Value, json};
use vodozemac::{
    Curve25519PublicKey, Ed25519Keypair, Ed25519PublicKey, Ed25519Signature, base64_decode,
    base64_encode,
    megolm::{GroupSession, InboundGroupSession, MegolmMessage, SessionConfig as MegolmConfig},
    olm::{Account, OlmMessage, Session, SessionConfig},
};

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

    pub fn curve25519(&self) -> String {
        self.account.curve25519_key().to_base64()
    }

    pub fn ed25519(&self) -> String {
        self.account.ed25519_key().to_base64()
    }

    /// An Olm session to the device with identity key `their_curve25519`, from one of its
    /// one-time keys (both base64, as `/keys/query` and `/keys/claim` return them).
    pub fn outbound_session(
        &self,
        their_curve25519: &str,
        one_time_key: &str,
    ) -> Result<Session, String> {
        let identity = Curve25519PublicKey::from_base64(their_curve25519)
            .map_err(|e| format!("identity key: {e}"))?;
        let one_time = Curve25519PublicKey::from_base64(one_time_key)
            .map_err(|e| format!("one-time key: {e}"))?;
        self.account
            .create_outbound_session(SessionConfig::version_1(), identity, one_time)
            .map_err(|e| format!("outbound Olm session: {e}"))
    }

    /// The content of an Olm `m.room.encrypted` to-device event carrying `payload`.
    pub fn olm_encrypt(
        &self,
        session: &mut Session,
        their_curve25519: &str,
        payload: &Value,
    ) -> Value {
        let message = session
            .encrypt(canonical_json(payload))
            .expect("an outbound session encrypts");
        let (kind, bytes) = message.to_parts();
        json!({
            "algorithm": OLM,
            "sender_key": self.curve25519(),
            "ciphertext": { their_curve25519: { "type": kind, "body": base64_encode(bytes) } },
        })
    }

    /// Decrypts an Olm `m.room.encrypted` content addressed to this device, starting the
    /// inbound session from its pre-key message.
    pub fn olm_decrypt(&mut self, content: &Value) -> Result<Value, String> {
        let mine = &content["ciphertext"][self.curve25519()];
        let kind = mine["type"]
            .as_u64()
            .ok_or("no ciphertext for this device")? as usize;
        let body = base64_decode(mine["body"].as_str().unwrap_or_default())
            .map_err(|e| format!("ciphertext: {e}"))?;
        let sender =
            Curve25519PublicKey::from_base64(content["sender_key"].as_str().unwrap_or_default())
                .map_err(|e| format!("sender_key: {e}"))?;
        let OlmMessage::PreKey(message) =
            OlmMessage::from_parts(kind, &body).map_err(|e| format!("Olm message: {e}"))?
        else {
            return Err("expected a pre-key message to start the session".to_owned());
        };
        let created = self
            .account
            .create_inbound_session(SessionConfig::version_1(), sender, &message)
            .map_err(|e| format!("inbound Olm session: {e}"))?;
        serde_json::from_slice(&created.plaintext).map_err(|e| format!("Olm plaintext: {e}"))
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

/// Checks `signer`'s signature with `key_id` on `object` against an ed25519 public key
/// (base64), as a client checks what the server hands it.
pub fn verify(object: &Value, signer: &str, key_id: &str, public_key: &str) -> Result<(), String> {
    let key = Ed25519PublicKey::from_base64(public_key).map_err(|e| format!("public key: {e}"))?;
    let signature = object["signatures"][signer][key_id]
        .as_str()
        .ok_or_else(|| format!("no signature by {signer} with {key_id}"))?;
    let signature =
        Ed25519Signature::from_base64(signature).map_err(|e| format!("signature: {e}"))?;
    let mut signed_part = object.clone();
    if let Some(fields) = signed_part.as_object_mut() {
        fields.remove("signatures");
        fields.remove("unsigned");
    }
    key.verify(canonical_json(&signed_part).as_bytes(), &signature)
        .map_err(|e| format!("signature does not verify: {e}"))
}

/// A new outbound Megolm session and the `m.room_key` content that shares it.
pub fn new_room_key(room_id: &str) -> (GroupSession, Value) {
    let session = GroupSession::new(MegolmConfig::version_1());
    let content = json!({
        "algorithm": MEGOLM,
        "room_id": room_id,
        "session_id": session.session_id(),
        "session_key": session.session_key().to_base64(),
    });
    (session, content)
}

/// The content of a Megolm `m.room.encrypted` room event carrying `event_type` and `content`.
pub fn megolm_encrypt(
    session: &mut GroupSession,
    sender: &Device,
    room_id: &str,
    event_type: &str,
    content: &Value,
) -> Value {
    let plaintext = json!({ "type": event_type, "content": content, "room_id": room_id });
    let message = session.encrypt(canonical_json(&plaintext));
    json!({
        "algorithm": MEGOLM,
        "sender_key": sender.curve25519(),
        "device_id": sender.device_id,
        "session_id": session.session_id(),
        "ciphertext": message.to_base64(),
    })
}

/// The inbound side of a session shared by an `m.room_key` content.
pub fn inbound_session(room_key: &Value) -> Result<InboundGroupSession, String> {
    let key = vodozemac::megolm::SessionKey::from_base64(
        room_key["session_key"].as_str().unwrap_or_default(),
    )
    .map_err(|e| format!("session_key: {e}"))?;
    Ok(InboundGroupSession::new(&key, MegolmConfig::version_1()))
}

/// Decrypts a Megolm `m.room.encrypted` content to the event JSON that was encrypted.
pub fn megolm_decrypt(session: &mut InboundGroupSession, content: &Value) -> Result<Value, String> {
    let message = MegolmMessage::from_base64(content["ciphertext"].as_str().unwrap_or_default())
        .map_err(|e| format!("Megolm message: {e}"))?;
    let decrypted = session
        .decrypt(&message)
        .map_err(|e| format!("Megolm decryption: {e}"))?;
    serde_json::from_slice(&decrypted.plaintext).map_err(|e| format!("Megolm plaintext: {e}"))
}
