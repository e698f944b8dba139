//! Cross-signing: a user's master key signs their self-signing key (which signs their devices)
//! and their user-signing key (which signs other users' master keys).
//!
//! Every signature the server accepts is checked here with ed25519; a client can only publish
//! signatures that really come from the keys they claim. Signatures arrive separately from the
//! keys they sign and are stored apart, then merged into the keys `/keys/query` returns. A
//! signature made with someone's user-signing key is shown only to that someone: who a user has
//! verified is their business.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::KeyService;
use crate::{
    core::signing::verify_signature,
    service::{Error, ErrorKind, accounts::AuthedUser},
    storage::KeySignature,
};

/// The keys one `/keys/device_signing/upload` carries, by usage.
pub type CrossSigningUpload = BTreeMap<String, Value>;

/// A cross-signing key's one ed25519 public key (the `<pub>` of `ed25519:<pub>`).
fn public_key(key: &Value) -> Option<&str> {
    let keys = key["keys"].as_object()?;
    let (id, value) = keys.iter().next().filter(|_| keys.len() == 1)?;
    let public = id.strip_prefix("ed25519:")?;
    (value.as_str() == Some(public)).then_some(public)
}

/// The object without `signatures` and `unsigned`: what a signature covers.
fn signed_part(object: &Value) -> Value {
    let mut part = object.clone();
    if let Some(fields) = part.as_object_mut() {
        fields.remove("signatures");
        fields.remove("unsigned");
    }
    part
}

fn invalid_signature(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSignature, message)
}

impl KeyService {
    /// Whether uploading `keys` needs user-interactive auth: only when a master key exists
    /// and the upload would change any key (a retried identical upload does not).
    pub async fn cross_signing_needs_auth(
        &self,
        user: &AuthedUser,
        keys: &CrossSigningUpload,
    ) -> Result<bool, Error> {
        let stored = self
            .stores
            .keys
            .cross_signing_keys(user.user_id.as_str())
            .await?;
        if !stored.contains_key("master") {
            return Ok(false);
        }
        Ok(keys
            .iter()
            .any(|(usage, key)| stored.get(usage) != Some(key)))
    }

    /// `POST /keys/device_signing/upload`, once any auth it needs has passed.
    pub async fn upload_cross_signing_keys(
        &self,
        user: &AuthedUser,
        keys: CrossSigningUpload,
    ) -> Result<(), Error> {
        let user_id = user.user_id.as_str();
        let stored = self.stores.keys.cross_signing_keys(user_id).await?;
        let devices = self.stores.devices.list_devices(&user.user_id).await?;
        for (usage, key) in &keys {
            if key["user_id"] != user_id {
                return Err(Error::new(
                    ErrorKind::InvalidParam,
                    format!("the {usage} key must name the uploading user"),
                ));
            }
            if !key["usage"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u == usage.as_str()))
            {
                return Err(Error::new(
                    ErrorKind::InvalidParam,
                    format!("the {usage} key must list {usage:?} in its usage"),
                ));
            }
            let public = public_key(key).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidParam,
                    format!("the {usage} key must hold exactly one ed25519:<key> entry"),
                )
            })?;
            // Key ids and device ids share a namespace in signatures.
            if devices.iter().any(|d| d.device_id.as_str() == public) {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "A cross-signing key's public key is one of your device ids",
                ));
            }
        }
        let master = keys.get("master").or_else(|| stored.get("master"));
        for usage in ["self_signing", "user_signing"] {
            let Some(key) = keys.get(usage) else { continue };
            let master = master.ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingParam,
                    "No master key to check this key's signature against",
                )
            })?;
            let master_public = public_key(master).unwrap_or_default();
            verify_signature(
                key,
                user_id,
                &format!("ed25519:{master_public}"),
                master_public,
            )
            .map_err(|e| invalid_signature(format!("the {usage} key: {e}")))?;
        }
        let changed: CrossSigningUpload = keys
            .into_iter()
            .filter(|(usage, key)| stored.get(usage) != Some(key))
            .collect();
        if !changed.is_empty() {
            self.stores
                .keys
                .put_cross_signing_keys(user_id, changed)
                .await?;
            self.notifier.wake();
        }
        Ok(())
    }

    /// `POST /keys/signatures/upload`: `signed` maps user ids to key ids (device ids, or a
    /// master key's public part) to the signed objects. Returns the `failures` map.
    pub async fn upload_signatures(
        &self,
        user: &AuthedUser,
        signed: BTreeMap<String, BTreeMap<String, Value>>,
    ) -> Result<Value, Error> {
        let mut accepted = Vec::new();
        let mut failures = Map::new();
        for (target_user, objects) in signed {
            for (key_id, object) in objects {
                match self
                    .check_signatures(user, &target_user, &key_id, &object)
                    .await
                {
                    Ok(mut found) => accepted.append(&mut found),
                    Err(error) => {
                        let (errcode, message) = match error.kind {
                            ErrorKind::InvalidSignature => ("M_INVALID_SIGNATURE", error.message),
                            ErrorKind::NotFound => ("M_NOT_FOUND", error.message),
                            ErrorKind::Internal | ErrorKind::Unavailable => return Err(error),
                            _ => ("M_INVALID_PARAM", error.message),
                        };
                        failures
                            .entry(target_user.clone())
                            .or_insert_with(|| json!({}))[&key_id] =
                            json!({ "errcode": errcode, "error": message });
                    }
                }
            }
        }
        if !accepted.is_empty() {
            self.stores.keys.add_key_signatures(accepted).await?;
            self.notifier.wake();
        }
        Ok(json!({ "failures": failures }))
    }

    /// The new, valid signatures the caller put on one object. The object must be the key the
    /// server holds under that id; the signatures allowed are the caller's self-signing key on
    /// their own devices, their devices on their own master key, and their user-signing key
    /// on another user's master key.
    async fn check_signatures(
        &self,
        user: &AuthedUser,
        target_user: &str,
        key_id: &str,
        object: &Value,
    ) -> Result<Vec<KeySignature>, Error> {
        let caller = user.user_id.as_str();
        let unknown = || Error::new(ErrorKind::NotFound, "No such key");
        let target_keys = self.stores.keys.cross_signing_keys(target_user).await?;
        let target_master = target_keys.get("master");
        let on_master = target_master.is_some_and(|m| public_key(m) == Some(key_id));
        let held = if on_master {
            target_master.cloned()
        } else if target_user == caller {
            self.stores
                .keys
                .device_keys(caller, vec![key_id.to_owned()])
                .await?
                .remove(key_id)
        } else {
            None
        };
        let held = held.ok_or_else(unknown)?;
        if signed_part(&held) != signed_part(object) {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "The signed object differs from the key the server holds",
            ));
        }
        let own_keys = if target_user == caller {
            target_keys.clone()
        } else {
            self.stores.keys.cross_signing_keys(caller).await?
        };
        // (the key id signatures must use, its public key) for this kind of target.
        let mut signers: Vec<(String, String)> = Vec::new();
        if target_user != caller {
            if let Some(public) = own_keys.get("user_signing").and_then(public_key) {
                signers.push((format!("ed25519:{public}"), public.to_owned()));
            }
        } else if on_master {
            let devices = self.stores.keys.device_keys(caller, Vec::new()).await?;
            for (device_id, keys) in devices {
                let signing_id = format!("ed25519:{device_id}");
                if let Some(public) = keys["keys"][&signing_id].as_str() {
                    signers.push((signing_id, public.to_owned()));
                }
            }
        } else if let Some(public) = own_keys.get("self_signing").and_then(public_key) {
            signers.push((format!("ed25519:{public}"), public.to_owned()));
        }

        let mut found = Vec::new();
        let offered = object["signatures"][caller]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (signer_key_id, signature) in &offered {
            if held["signatures"][caller][signer_key_id] == *signature {
                continue; // already part of the key as uploaded
            }
            let Some((_, public)) = signers.iter().find(|(id, _)| id == signer_key_id) else {
                return Err(invalid_signature(format!(
                    "{signer_key_id} may not sign this key"
                )));
            };
            verify_signature(object, caller, signer_key_id, public)
                .map_err(|e| invalid_signature(e.to_string()))?;
            found.push(KeySignature {
                target_user_id: target_user.to_owned(),
                target_key_id: key_id.to_owned(),
                signer_user_id: caller.to_owned(),
                signer_key_id: signer_key_id.clone(),
                signature: signature.as_str().unwrap_or_default().to_owned(),
            });
        }
        if found.is_empty() {
            return Err(invalid_signature("No new signature by the caller"));
        }
        Ok(found)
    }

    /// The cross-signing keys `/keys/query` shows `caller` for `user_id`, with uploaded
    /// signatures merged in: (master, self-signing, user-signing — the last only to its owner).
    pub(super) async fn cross_signing_for_query(
        &self,
        caller: &str,
        user_id: &str,
        signatures: &[KeySignature],
    ) -> Result<BTreeMap<&'static str, Value>, Error> {
        let mut out = BTreeMap::new();
        for (usage, mut key) in self.stores.keys.cross_signing_keys(user_id).await? {
            let field = match usage.as_str() {
                "master" => "master_keys",
                "self_signing" => "self_signing_keys",
                "user_signing" if user_id == caller => "user_signing_keys",
                _ => continue,
            };
            if let Some(public) = public_key(&key).map(str::to_owned) {
                merge_signatures(&mut key, &public, caller, user_id, signatures);
            }
            out.insert(field, key);
        }
        Ok(out)
    }
}

/// Adds the stored signatures on `target_key_id` to `key`. Signatures by users other than the
/// key's owner (user-signing signatures) are shown only to the user who made them.
pub(super) fn merge_signatures(
    key: &mut Value,
    target_key_id: &str,
    caller: &str,
    owner: &str,
    signatures: &[KeySignature],
) {
    for s in signatures
        .iter()
        .filter(|s| s.target_key_id == target_key_id)
    {
        if s.signer_user_id != owner && s.signer_user_id != caller {
            continue;
        }
        if !key["signatures"].is_object() {
            key["signatures"] = json!({});
        }
        if !key["signatures"][&s.signer_user_id].is_object() {
            key["signatures"][&s.signer_user_id] = json!({});
        }
        key["signatures"][&s.signer_user_id][&s.signer_key_id] = json!(s.signature);
    }
}
