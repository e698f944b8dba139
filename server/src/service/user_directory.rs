//! User directory search: the users someone may find are those they share a room with and
//! those in rooms published to the public directory, matched case-insensitively on the user id
//! and the display name.

use std::collections::BTreeSet;

use ruma::UserId;
use serde_json::{Value, json};

use super::{Error, accounts::AuthedUser};
use crate::storage::Stores;

/// The most results one search returns, whatever the client asks.
const MAX_LIMIT: u64 = 50;

pub struct UserDirectoryService {
    stores: Stores,
}

impl UserDirectoryService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    pub async fn search(&self, user: &AuthedUser, term: &str, limit: u64) -> Result<Value, Error> {
        let limit = limit.clamp(1, MAX_LIMIT) as usize;
        let term = term.trim().to_lowercase();
        let rooms = &self.stores.rooms;
        let mut visible_rooms: BTreeSet<String> = rooms
            .rooms_with_membership(user.user_id.as_str(), "join")
            .await?
            .into_iter()
            .collect();
        visible_rooms.extend(self.stores.directory.published_rooms().await?);
        let mut candidates = BTreeSet::new();
        for room in &visible_rooms {
            for (member, membership, _) in rooms.room_members(room).await? {
                if membership == "join" {
                    candidates.insert(member);
                }
            }
        }
        let mut results = Vec::new();
        let mut limited = false;
        for candidate in candidates {
            let Ok(user_id) = <&UserId>::try_from(candidate.as_str()) else {
                continue;
            };
            let profile = self.stores.profiles.get_profile(user_id).await?;
            let display_name = profile.get("displayname").and_then(Value::as_str);
            let matches = term.is_empty()
                || candidate.to_lowercase().contains(&term)
                || display_name.is_some_and(|n| n.to_lowercase().contains(&term));
            if !matches {
                continue;
            }
            if results.len() == limit {
                limited = true;
                break;
            }
            let mut result = json!({ "user_id": candidate });
            if let Some(name) = display_name {
                result["display_name"] = json!(name);
            }
            if let Some(avatar) = profile.get("avatar_url").and_then(Value::as_str) {
                result["avatar_url"] = json!(avatar);
            }
            results.push(result);
        }
        Ok(json!({ "results": results, "limited": limited }))
    }
}
