//! Push rules: each user's rule set (`/pushrules`), and evaluating it on new events to decide
//! which members are notified, and which highlighted; `/sync` turns the results into unread
//! counts.
//!
//! The rule set is kept as the `m.push_rules` account data (so clients also see it in
//! `/sync`), starting from the spec's server-default rules. Evaluation is ruma's. Rule sets
//! are cached in memory per process and replaced on every write through this service.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use ruma::{
    Int, OwnedUserId, RoomVersionId, UInt, UserId,
    power_levels::NotificationPowerLevels,
    push::{
        Action, InsertPushRuleError, NewPushRule, PushConditionPowerLevelsCtx,
        PushConditionRoomCtx, RemovePushRuleError, RuleKind, Ruleset,
    },
    room_version_rules::RoomPowerLevelsRules,
    serde::Raw,
};
use serde_json::{Value, json};

use super::{Error, ErrorKind, account_data::AccountDataService};
use crate::storage::{PushAction, StoredEvent, Stores};

pub struct PushService {
    stores: Stores,
    account_data: Arc<AccountDataService>,
    cache: Mutex<HashMap<String, Arc<Ruleset>>>,
}

/// Where a new rule goes relative to the user's other rules of its kind.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub before: Option<String>,
    pub after: Option<String>,
}

impl PushService {
    pub fn new(stores: Stores, account_data: Arc<AccountDataService>) -> Self {
        Self {
            stores,
            account_data,
            cache: Mutex::default(),
        }
    }

    /// The user's rule set: what they stored, or the server defaults.
    pub async fn ruleset(&self, user_id: &UserId) -> Result<Arc<Ruleset>, Error> {
        if let Some(cached) = self.cached(user_id.as_str()) {
            return Ok(cached);
        }
        let stored = self
            .stores
            .account_data
            .get_account_data(user_id.as_str(), "", "m.push_rules")
            .await?;
        let ruleset = stored
            .and_then(|content| serde_json::from_value::<Ruleset>(content["global"].clone()).ok())
            .unwrap_or_else(|| Ruleset::server_default(user_id));
        let ruleset = Arc::new(ruleset);
        self.cache
            .lock()
            .expect("push rule cache poisoned")
            .insert(user_id.to_string(), ruleset.clone());
        Ok(ruleset)
    }

    fn cached(&self, user_id: &str) -> Option<Arc<Ruleset>> {
        self.cache
            .lock()
            .expect("push rule cache poisoned")
            .get(user_id)
            .cloned()
    }

    /// Applies `change` to the user's rule set and stores the result.
    async fn update<T>(
        &self,
        user_id: &UserId,
        change: impl FnOnce(&mut Ruleset) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut ruleset = (*self.ruleset(user_id).await?).clone();
        let out = change(&mut ruleset)?;
        let content = json!({ "global": serde_json::to_value(&ruleset).map_err(|e| Error::internal(e.to_string()))? });
        self.account_data
            .set_push_rules(user_id.as_str(), &content)
            .await?;
        self.cache
            .lock()
            .expect("push rule cache poisoned")
            .insert(user_id.to_string(), Arc::new(ruleset));
        Ok(out)
    }

    /// The whole rule set, as the spec's JSON.
    pub async fn rules_json(&self, user_id: &UserId) -> Result<Value, Error> {
        serde_json::to_value(&*self.ruleset(user_id).await?)
            .map_err(|e| Error::internal(e.to_string()))
    }

    /// One rule, as the spec's JSON.
    pub async fn rule(&self, user_id: &UserId, kind: &str, rule_id: &str) -> Result<Value, Error> {
        parse_kind(kind)?;
        // ruma's borrowed rule has no serialised form; the rule set's JSON has every rule.
        let rules = self.rules_json(user_id).await?;
        rules[kind]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["rule_id"] == rule_id)
            .cloned()
            .ok_or_else(rule_not_found)
    }

    /// Adds or replaces a user-defined rule.
    pub async fn set_rule(
        &self,
        user_id: &UserId,
        rule: NewPushRule,
        placement: Placement,
    ) -> Result<(), Error> {
        if rule.rule_id().starts_with('.') {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "Rule ids starting with '.' are reserved for server-default rules",
            ));
        }
        self.update(user_id, |ruleset| {
            ruleset
                .insert(
                    rule,
                    placement.after.as_deref(),
                    placement.before.as_deref(),
                )
                .map_err(|e| match e {
                    InsertPushRuleError::UnknownRuleId => Error::new(
                        ErrorKind::PushRuleInvalid,
                        "before/after names an unknown rule",
                    ),
                    InsertPushRuleError::BeforeHigherThanAfter => {
                        Error::new(ErrorKind::PushRuleInvalid, "before must come after after")
                    }
                    InsertPushRuleError::RelativeToServerDefaultRule => Error::new(
                        ErrorKind::PushRuleInvalid,
                        "Rules cannot be placed relative to server-default rules",
                    ),
                    other => Error::new(ErrorKind::PushRuleInvalid, other.to_string()),
                })
        })
        .await
    }

    pub async fn delete_rule(
        &self,
        user_id: &UserId,
        kind: &str,
        rule_id: &str,
    ) -> Result<(), Error> {
        let kind = parse_kind(kind)?;
        self.update(user_id, |ruleset| {
            ruleset.remove(kind, rule_id).map_err(|e| match e {
                RemovePushRuleError::NotFound => rule_not_found(),
                RemovePushRuleError::ServerDefault => Error::new(
                    ErrorKind::Forbidden,
                    "Server-default rules cannot be deleted",
                ),
                other => Error::new(ErrorKind::InvalidParam, other.to_string()),
            })
        })
        .await
    }

    pub async fn set_enabled(
        &self,
        user_id: &UserId,
        kind: &str,
        rule_id: &str,
        enabled: bool,
    ) -> Result<(), Error> {
        let kind = parse_kind(kind)?;
        self.update(user_id, |ruleset| {
            ruleset
                .set_enabled(kind, rule_id, enabled)
                .map_err(|_| rule_not_found())
        })
        .await
    }

    pub async fn set_actions(
        &self,
        user_id: &UserId,
        kind: &str,
        rule_id: &str,
        actions: Vec<Action>,
    ) -> Result<(), Error> {
        let kind = parse_kind(kind)?;
        self.update(user_id, |ruleset| {
            ruleset
                .set_actions(kind, rule_id, actions)
                .map_err(|_| rule_not_found())
        })
        .await
    }

    /// Who a new event notifies: every joined member but its sender, by their rules, in the
    /// room as `state` describes it (the state the event is appended to).
    pub async fn actions_for(
        &self,
        room_version: &str,
        room_id: &str,
        event: &Value,
        state: &[StoredEvent],
    ) -> Result<Vec<PushAction>, Error> {
        let sender = event["sender"].as_str().unwrap_or_default();
        let members: Vec<(&str, &Value)> = state
            .iter()
            .filter(|e| e.json["type"] == "m.room.member")
            .filter(|e| e.json["content"]["membership"] == "join")
            .filter_map(|e| Some((e.json["state_key"].as_str()?, &e.json["content"])))
            .collect();
        let Ok(room_id_typed) = ruma::OwnedRoomId::try_from(room_id) else {
            return Ok(Vec::new());
        };
        let power_levels = power_levels_ctx(room_version, state);
        let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
            serde_json::value::to_raw_value(event).map_err(|e| Error::internal(e.to_string()))?,
        );
        let member_count = UInt::try_from(members.len() as u64).unwrap_or(UInt::MAX);
        let mut out = Vec::new();
        for (member, content) in &members {
            if *member == sender {
                continue;
            }
            let Ok(user_id) = OwnedUserId::try_from(*member) else {
                continue;
            };
            let ruleset = self.ruleset(&user_id).await?;
            let display_name = content["displayname"]
                .as_str()
                .unwrap_or_else(|| user_id.localpart())
                .to_owned();
            let mut ctx = PushConditionRoomCtx::new(
                room_id_typed.clone(),
                member_count,
                user_id,
                display_name,
            );
            if let Some(levels) = &power_levels {
                ctx = ctx.with_power_levels(levels.clone());
            }
            let actions = ruleset.get_actions(&raw, &ctx).await;
            if actions.iter().any(Action::should_notify) {
                out.push(PushAction {
                    user_id: (*member).to_owned(),
                    highlight: actions.iter().any(Action::is_highlight),
                });
            }
        }
        Ok(out)
    }
}

/// The power levels push conditions read (`sender_notification_permission`), from the room's
/// state; `None` when the room version is unknown to ruma.
fn power_levels_ctx(
    room_version: &str,
    state: &[StoredEvent],
) -> Option<PushConditionPowerLevelsCtx> {
    let rules = RoomVersionId::try_from(room_version).ok()?.rules()?;
    let find = |kind: &str| {
        state
            .iter()
            .find(|e| e.json["type"] == kind && e.json["state_key"] == "")
    };
    let create = find("m.room.create");
    let mut creators: HashSet<OwnedUserId> = HashSet::new();
    if let Some(create) = create {
        if let Some(sender) = create.json["sender"]
            .as_str()
            .and_then(|s| OwnedUserId::try_from(s).ok())
        {
            creators.insert(sender);
        }
        for extra in create.json["content"]["additional_creators"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(user) = extra.as_str().and_then(|s| OwnedUserId::try_from(s).ok()) {
                creators.insert(user);
            }
        }
    }
    let levels = find("m.room.power_levels").map(|e| &e.json["content"]);
    let int = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| Int::try_from(n).ok())
    };
    let mut users = BTreeMap::new();
    let users_default;
    let mut notifications = NotificationPowerLevels::new();
    match levels {
        Some(levels) => {
            for (user, level) in levels["users"].as_object().into_iter().flatten() {
                if let (Ok(user), Some(level)) = (OwnedUserId::try_from(user.as_str()), int(level))
                {
                    users.insert(user, level);
                }
            }
            users_default = int(&levels["users_default"]).unwrap_or_default();
            if let Some(room) = int(&levels["notifications"]["room"]) {
                notifications.room = room;
            }
        }
        None => {
            // Without power levels the creator has 100 and everyone else 0.
            for creator in &creators {
                users.insert(creator.clone(), Int::from(100));
            }
            users_default = Int::from(0);
        }
    }
    Some(PushConditionPowerLevelsCtx::new(
        users,
        users_default,
        notifications,
        RoomPowerLevelsRules::new(&rules.authorization, creators),
    ))
}

fn parse_kind(kind: &str) -> Result<RuleKind, Error> {
    match kind {
        "override" | "underride" | "sender" | "room" | "content" => Ok(RuleKind::from(kind)),
        _ => Err(Error::new(
            ErrorKind::InvalidParam,
            format!("Unknown push rule kind {kind:?}"),
        )),
    }
}

fn rule_not_found() -> Error {
    Error::new(ErrorKind::NotFound, "No such push rule")
}
