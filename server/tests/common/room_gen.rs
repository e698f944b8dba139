//! Random rooms for state-resolution tests: a DAG of valid state events by random members with
//! random power changes, on forking and merging branches. Every event is authorised (by
//! REChain's auth rules) against the state of the branch it extends; an operation that would
//! not be allowed is skipped.

use std::collections::HashMap;

use rechain_server::core::{
    auth::{self, StateMap},
    event::{self, POWER_LEVELS_KEY, Pdu, StateKey},
    room_version::RoomVersion,
    state_res::{self, StateIds},
};
use serde_json::{Value, json};

pub const USERS: [&str; 6] = [
    "@alice:example.org",
    "@bob:example.org",
    "@carol:other.org",
    "@dave:example.org",
    "@erin:other.org",
    "@frank:example.org",
];

/// One step of the generator; the numbers pick users, branches and values.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub kind: u8,
    pub a: u8,
    pub b: u8,
    pub branch: u8,
    pub value: u8,
}

#[derive(Clone)]
pub struct Branch {
    pub state: StateIds,
    pub heads: Vec<String>,
    pub depth: i64,
}

pub struct Room {
    pub version: RoomVersion,
    pub events: HashMap<String, Pdu>,
    pub branches: Vec<Branch>,
    counter: u32,
    /// Every accepted state event per key, oldest first.
    history: HashMap<StateKey, Vec<String>>,
    /// The state after each event, as the generator computed it while building.
    pub state_after: HashMap<String, StateIds>,
    /// Whether a stale state entry was injected (then states no longer follow the DAG).
    pub has_stale_state: bool,
}

impl Room {
    pub fn room_id(&self) -> String {
        if self.version.auth.room_id_is_create_event_id {
            "!e0:example.org".to_owned()
        } else {
            "!room:example.org".to_owned()
        }
    }

    /// A room with create, Alice's join, power levels and public join rules, then `ops`.
    pub fn generate(version: RoomVersion, ops: &[Op]) -> Room {
        let mut room = Room {
            version,
            events: HashMap::new(),
            branches: Vec::new(),
            counter: 0,
            history: HashMap::new(),
            state_after: HashMap::new(),
            has_stale_state: false,
        };
        let alice = USERS[0];
        let mut create_content = json!({"room_version": version.id});
        if !version.auth.creator_is_sender {
            create_content["creator"] = json!(alice);
        }
        let mut branch = Branch {
            state: StateIds::new(),
            heads: Vec::new(),
            depth: 0,
        };
        room.try_add(
            &mut branch,
            alice,
            "m.room.create",
            Some(""),
            create_content,
            0,
        );
        room.try_add(
            &mut branch,
            alice,
            "m.room.member",
            Some(alice),
            json!({"membership": "join"}),
            0,
        );
        let mut users = json!({});
        if !version.auth.creators_have_infinite_power {
            users[alice] = json!(100);
        }
        room.try_add(
            &mut branch,
            alice,
            "m.room.power_levels",
            Some(""),
            json!({"users": users}),
            0,
        );
        room.try_add(
            &mut branch,
            alice,
            "m.room.join_rules",
            Some(""),
            json!({"join_rule": "public"}),
            0,
        );
        room.branches.push(branch.clone());
        room.branches.push(branch);
        for op in ops {
            room.apply(*op);
        }
        room
    }

    fn apply(&mut self, op: Op) {
        let b = op.branch as usize % self.branches.len();
        let mut branch = self.branches[b].clone();
        let a = USERS[op.a as usize % USERS.len()];
        let t = USERS[op.b as usize % USERS.len()];
        let ts_jitter = i64::from(op.value % 4);
        let added = match op.kind % 10 {
            0 | 1 => self.try_add(
                &mut branch,
                a,
                "m.room.member",
                Some(a),
                json!({"membership": "join"}),
                ts_jitter,
            ),
            2 => self.try_add(
                &mut branch,
                a,
                "m.room.member",
                Some(a),
                json!({"membership": "leave"}),
                ts_jitter,
            ),
            3 => self.try_add(
                &mut branch,
                a,
                "m.room.member",
                Some(t),
                json!({"membership": "leave"}),
                ts_jitter,
            ),
            4 => self.try_add(
                &mut branch,
                a,
                "m.room.member",
                Some(t),
                json!({"membership": "ban"}),
                ts_jitter,
            ),
            5 | 6 => {
                let current = branch
                    .state
                    .get(&POWER_LEVELS_KEY)
                    .map(|id| self.events[id].content.clone())
                    .unwrap_or_else(|| json!({}));
                let mut content = current;
                let level = [0, 25, 50, 75, 100][op.value as usize % 5];
                if !(self.version.auth.creators_have_infinite_power && t == USERS[0]) {
                    content["users"][t] = json!(level);
                }
                if op.value.is_multiple_of(7) {
                    content["state_default"] = json!(level);
                }
                self.try_add(
                    &mut branch,
                    a,
                    "m.room.power_levels",
                    Some(""),
                    content,
                    ts_jitter,
                )
            }
            7 => {
                let rule = ["public", "invite"][op.value as usize % 2];
                self.try_add(
                    &mut branch,
                    a,
                    "m.room.join_rules",
                    Some(""),
                    json!({"join_rule": rule}),
                    ts_jitter,
                )
            }
            8 => self.try_add(
                &mut branch,
                a,
                "m.room.topic",
                Some(""),
                json!({"topic": format!("t{}", op.value)}),
                ts_jitter,
            ),
            _ => {
                // A stale state entry, as partial synchronisation can produce: the branch keeps
                // its heads but believes an older event holds a key (MSC4297's problems).
                if op.value % 4 == 1 {
                    let keys = [
                        event::state_key("m.room.power_levels", ""),
                        event::state_key("m.room.join_rules", ""),
                        event::state_key("m.room.member", t),
                    ];
                    let key = &keys[op.a as usize % keys.len()];
                    if let Some(past) = self.history.get(key).filter(|h| h.len() >= 2) {
                        let older = past[op.b as usize % (past.len() - 1)].clone();
                        branch.state.insert(key.clone(), older);
                        self.branches[b] = branch;
                        self.has_stale_state = true;
                    }
                    return;
                }
                // Fork, or merge two branches through a message whose state is their resolution.
                if self.branches.len() < 4 && op.value.is_multiple_of(2) {
                    self.branches.push(branch.clone());
                    return;
                }
                let other = (b + 1 + op.a as usize) % self.branches.len();
                // Merge only single-headed branches, so the merged state is exactly what a
                // server would compute for an event citing both heads.
                if other == b || branch.heads.len() != 1 || self.branches[other].heads.len() != 1 {
                    return;
                }
                let sets = [branch.state.clone(), self.branches[other].state.clone()];
                let merged =
                    state_res::resolve(&self.version, &sets, &self.events).expect("resolvable");
                branch.heads.extend(self.branches[other].heads.clone());
                branch.heads.sort();
                branch.heads.dedup();
                branch.depth = branch.depth.max(self.branches[other].depth);
                branch.state = merged;
                self.branches.remove(other);
                let b = if other < b { b - 1 } else { b };
                self.branches[b] = branch;
                return;
            }
        };
        if added {
            self.branches[b] = branch;
        }
    }

    /// Builds the event on `branch`, and adds it if it passes auth against the branch's state.
    fn try_add(
        &mut self,
        branch: &mut Branch,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        ts_jitter: i64,
    ) -> bool {
        let id = format!("$e{}:example.org", self.counter);
        let mut json = json!({
            "event_id": id,
            "type": event_type,
            "sender": sender,
            "content": content,
            "prev_events": branch.heads,
            "depth": branch.depth + 1,
            "origin_server_ts": 1_000 + i64::from(self.counter) * 4 + ts_jitter,
            "signatures": {"example.org": {}, "other.org": {}},
        });
        if let Some(key) = state_key {
            json["state_key"] = json!(key);
        }
        let is_v12_create =
            self.version.auth.room_id_is_create_event_id && event_type == "m.room.create";
        if !is_v12_create {
            json["room_id"] = json!(self.room_id());
        }
        let draft =
            Pdu::from_trusted_json(json.clone(), &self.version).expect("generated events parse");
        let auth_ids: Vec<String> = auth::auth_types_for_event(&self.version, &draft)
            .into_iter()
            .filter_map(|key| branch.state.get(&key).cloned())
            .collect();
        json["auth_events"] = json!(auth_ids);
        let pdu = Pdu::from_trusted_json(json, &self.version).expect("generated events parse");
        let mut view = StateMap::new();
        for id in branch.state.values() {
            view.insert(&self.events[id]);
        }
        let signed_by = |_: &Pdu, _: &str| true;
        if auth::check(&self.version, &pdu, &view, &signed_by).is_err() {
            return false;
        }
        self.counter += 1;
        if let Some(key) = &pdu.state_key {
            branch
                .state
                .insert(event::state_key(&pdu.event_type, key), pdu.event_id.clone());
        }
        branch.heads = vec![pdu.event_id.clone()];
        branch.depth += 1;
        self.state_after
            .insert(pdu.event_id.clone(), branch.state.clone());
        self.events.insert(pdu.event_id.clone(), pdu);
        true
    }

    /// Whether some join other than the creator's first cites no join rules among its auth
    /// events, which only happens here after a resolution dropped the join rules from a
    /// branch's state.
    pub fn has_join_without_join_rules(&self) -> bool {
        self.events.values().any(|e| {
            e.event_type == "m.room.member"
                && e.content.get("membership").and_then(Value::as_str) == Some("join")
                && e.prev_events
                    .iter()
                    .all(|p| self.events[p].event_type != "m.room.create")
                && !e
                    .auth_events
                    .iter()
                    .any(|a| self.events[a].event_type == "m.room.join_rules")
        })
    }

    /// Whether some power-levels event leaves out one of the single-level properties
    /// (`users_default`, `ban`, …) that another power-levels event of the room sets. Removal is where
    /// REChain (like Synapse) and ruma read the auth rules differently; see the fixture
    /// `removing_a_level_is_not_checked_against_its_default`.
    pub fn has_removed_power_level(&self) -> bool {
        const FIELDS: [&str; 7] = [
            "users_default",
            "events_default",
            "state_default",
            "ban",
            "redact",
            "kick",
            "invite",
        ];
        let levels: Vec<&Pdu> = self
            .events
            .values()
            .filter(|e| e.event_type == "m.room.power_levels")
            .collect();
        // Resolution may check any of them against any other, not only against the one in
        // its auth events, so any pair counts.
        levels.iter().any(|new| {
            levels.iter().any(|old| {
                FIELDS
                    .iter()
                    .any(|f| old.content.get(*f).is_some() && new.content.get(*f).is_none())
            })
        })
    }

    pub fn state_sets(&self) -> Vec<StateIds> {
        self.branches.iter().map(|b| b.state.clone()).collect()
    }
}
