//! Push rules: each user's rule set (`/pushrules`), and evaluating it on new events to decide
//! which members are notified, and which highlighted; `/sync` turns the results into unread
//! counts.
//!
//! The rule set is kept as the `m.push_rules` account data (so clients also see it in
//! `/sync`), starting from the spec's server-default rules. Evaluation is ruma's. Rule sets
//! are cached in memory per process and replaced on every write through this service.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use ruma::{
    Int, OwnedRoomId, OwnedUserId, RoomVersionId, UInt, UserId,
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
use crate::storage::{Notifications, Notify, PushAction, Stores};

pub struct PushService {
    stores: Stores,
    account_data: Arc<AccountDataService>,
    /// Each user's stored rule set; `None` for users who run the server defaults.
    cache: Mutex<HashMap<String, Option<Arc<Ruleset>>>>,
    /// Everyone with a stored rule set, once read; bumping the version drops it.
    custom_users: Mutex<(u64, Option<Arc<HashSet<String>>>)>,
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
            custom_users: Mutex::default(),
        }
    }

    /// The user's rule set: what they stored, or the server defaults.
    pub async fn ruleset(&self, user_id: &UserId) -> Result<Arc<Ruleset>, Error> {
        Ok(self
            .custom_ruleset(user_id.as_str())
            .await?
            .unwrap_or_else(|| Arc::new(Ruleset::server_default(user_id))))
    }

    /// Every user with a stored rule set: the only ones, besides those an event names, whose
    /// outcome can differ from the server defaults'.
    async fn custom_users(&self) -> Result<Arc<HashSet<String>>, Error> {
        let version = {
            let cached = self.custom_users.lock().expect("push rule cache poisoned");
            if let Some(users) = &cached.1 {
                return Ok(users.clone());
            }
            cached.0
        };
        let users: Arc<HashSet<String>> = Arc::new(
            self.stores
                .account_data
                .users_with_account_data("m.push_rules")
                .await?
                .into_iter()
                .collect(),
        );
        let mut cached = self.custom_users.lock().expect("push rule cache poisoned");
        // A rule set stored while this was read may be missing from it: keep it only if none was.
        if cached.0 == version {
            cached.1 = Some(users.clone());
        }
        Ok(users)
    }

    /// The rule set the user stored, if they ever changed a rule.
    async fn custom_ruleset(&self, user_id: &str) -> Result<Option<Arc<Ruleset>>, Error> {
        if let Some(cached) = self
            .cache
            .lock()
            .expect("push rule cache poisoned")
            .get(user_id)
        {
            return Ok(cached.clone());
        }
        let stored = self
            .stores
            .account_data
            .get_account_data(user_id, "", "m.push_rules")
            .await?;
        let ruleset = stored
            .and_then(|content| serde_json::from_value::<Ruleset>(content["global"].clone()).ok())
            .map(Arc::new);
        self.cache
            .lock()
            .expect("push rule cache poisoned")
            .insert(user_id.to_owned(), ruleset.clone());
        Ok(ruleset)
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
            .insert(user_id.to_string(), Some(Arc::new(ruleset)));
        let mut custom = self.custom_users.lock().expect("push rule cache poisoned");
        custom.0 += 1;
        custom.1 = None;
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

    /// Whom a new event notifies: every joined member but its sender, by their rules, in the
    /// room as `room` describes it (the state the event is appended to).
    ///
    /// The server-default rules depend on the member only through the event naming them (as
    /// its `state_key` or in `m.mentions.user_ids`), so one evaluation for a member the event
    /// does not name stands for every such member; members with rules of their own, and
    /// members the event names, are evaluated one by one and listed where they differ.
    pub async fn notifications_for(
        &self,
        room: &PushRoom<'_>,
        event: &Value,
    ) -> Result<Notifications, Error> {
        let sender = event["sender"].as_str().unwrap_or_default();
        let Ok(room_id) = OwnedRoomId::try_from(room.room_id) else {
            return Ok(Notifications::default());
        };
        let sender_joined = room.joined_event(sender).is_some();
        if room.joined_count <= usize::from(sender_joined) {
            return Ok(Notifications::default());
        }
        let power_levels = power_levels_ctx(room.version, room.create, room.power_levels);
        let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
            serde_json::value::to_raw_value(event).map_err(|e| Error::internal(e.to_string()))?,
        );
        let member_count = UInt::try_from(room.joined_count as u64).unwrap_or(UInt::MAX);
        let context = |user_id: OwnedUserId, display_name: String| {
            let ctx =
                PushConditionRoomCtx::new(room_id.clone(), member_count, user_id, display_name);
            match &power_levels {
                Some(levels) => ctx.with_power_levels(levels.clone()),
                None => ctx,
            }
        };
        let named = named_in(event);
        let generic = generic_member();
        // An event that names the stand-in itself gets no shared outcome: everyone is
        // evaluated on their own.
        let everyone = if named.contains(generic.as_str()) {
            None
        } else {
            let name = generic.localpart().to_owned();
            let defaults = Ruleset::server_default(&generic);
            let actions = defaults
                .get_actions(&raw, &context(generic.clone(), name))
                .await;
            Some(outcome(actions))
        };
        // Only members the event names and members with rules of their own can differ from
        // everyone; without a shared outcome, every member is evaluated.
        let custom_users = self.custom_users().await?;
        let candidates: BTreeSet<&str> =
            if everyone.is_none() || custom_users.len() > room.joined_count {
                room.members.keys().map(String::as_str).collect()
            } else {
                named
                    .iter()
                    .copied()
                    .chain(custom_users.iter().map(String::as_str))
                    .collect()
            };
        let mut exceptions = Vec::new();
        for member in candidates {
            let Some(member_event) = room.joined_event(member).filter(|_| member != sender) else {
                continue;
            };
            let custom = if custom_users.contains(member) {
                self.custom_ruleset(member).await?
            } else {
                None
            };
            if custom.is_none() && everyone.is_some() && !named.contains(member) {
                continue;
            }
            let Ok(user_id) = OwnedUserId::try_from(member) else {
                continue;
            };
            // Only a stored rule set can match on the display name (the server defaults no
            // longer do), so only then is the member event read for it.
            let display_name = match &custom {
                Some(_) => self.display_name(member_event).await?,
                None => None,
            }
            .unwrap_or_else(|| user_id.localpart().to_owned());
            let ruleset = custom.unwrap_or_else(|| Arc::new(Ruleset::server_default(&user_id)));
            let actions = ruleset
                .get_actions(&raw, &context(user_id, display_name))
                .await;
            let notify = outcome(actions);
            if notify != everyone.unwrap_or_default() {
                exceptions.push(PushAction {
                    user_id: member.to_owned(),
                    notify,
                });
            }
        }
        Ok(Notifications {
            everyone: everyone.unwrap_or_default(),
            exceptions,
        })
    }

    /// The display name a member event sets, for rules that match on it.
    async fn display_name(&self, member_event: &str) -> Result<Option<String>, Error> {
        let event = self.stores.rooms.get_event(member_event).await?;
        Ok(event.and_then(|e| e.json["content"]["displayname"].as_str().map(str::to_owned)))
    }
}

/// The room as a new event's push rules see it: the state that event is appended to.
pub struct PushRoom<'a> {
    pub version: &'a str,
    pub room_id: &'a str,
    /// Every member event's user → (membership, event id).
    pub members: &'a HashMap<String, (String, String)>,
    pub joined_count: usize,
    /// The room's create event, when it has one (full JSON).
    pub create: Option<&'a Value>,
    /// The room's power-levels event, when it has one (full JSON).
    pub power_levels: Option<&'a Value>,
}

impl PushRoom<'_> {
    /// The member event of a joined member.
    fn joined_event(&self, user: &str) -> Option<&str> {
        self.members
            .get(user)
            .filter(|(membership, _)| membership == "join")
            .map(|(_, event_id)| event_id.as_str())
    }
}

/// The stand-in for every member who runs the server-default rules and whom an event does not
/// name. Its server is reserved (RFC 2606), so it is nobody.
fn generic_member() -> OwnedUserId {
    OwnedUserId::try_from("@_rechain_default_rules:rechain.invalid")
        .expect("a valid user id literal")
}

/// The users an event names in ways the server-default rules read: its `state_key` (an
/// invite) and its intentional mentions.
fn named_in(event: &Value) -> HashSet<&str> {
    let mentions = event["content"]["m.mentions"]["user_ids"].as_array();
    mentions
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .chain(event["state_key"].as_str())
        .collect()
}

fn outcome(actions: &[Action]) -> Notify {
    if !actions.iter().any(Action::should_notify) {
        Notify::No
    } else if actions.iter().any(Action::is_highlight) {
        Notify::Highlight
    } else {
        Notify::Yes
    }
}

/// The power levels push conditions read (`sender_notification_permission`), from the room's
/// state; `None` when the room version is unknown to ruma.
fn power_levels_ctx(
    room_version: &str,
    create: Option<&Value>,
    power_levels: Option<&Value>,
) -> Option<PushConditionPowerLevelsCtx> {
    let rules = RoomVersionId::try_from(room_version).ok()?.rules()?;
    let mut creators: HashSet<OwnedUserId> = HashSet::new();
    if let Some(create) = create {
        if let Some(sender) = create["sender"]
            .as_str()
            .and_then(|s| OwnedUserId::try_from(s).ok())
        {
            creators.insert(sender);
        }
        for extra in create["content"]["additional_creators"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(user) = extra.as_str().and_then(|s| OwnedUserId::try_from(s).ok()) {
                creators.insert(user);
            }
        }
    }
    let levels = power_levels.map(|e| &e["content"]);
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
