//! Inputs shared by the criterion benchmarks (`core.rs`, `state_res.rs`): a sample event, and a
//! synthetic large room with two conflicting branches, plus the adapter that lets ruma's
//! state-res resolve the same room in the same run.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use rechain_server::core::{
    auth,
    event::{self, Pdu},
    room_version::RoomVersion,
    state_res::StateIds,
};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomVersionId,
    UInt,
    events::{StateEventType, TimelineEventType},
    room_version_rules::RoomVersionRules,
    state_res as oracle,
};
use serde_json::{Value, json, value::RawValue};

/// The allocator the server binary runs with (`server/src/main.rs`), so every bench, on both
/// sides of each comparison, allocates as the server would.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A typical `m.room.message` PDU (room version 11 shape), about 700 bytes of canonical JSON.
pub fn sample_event() -> Value {
    json!({
        "auth_events": [
            "$Wp9rT7B6p1dQzCj1vZ0hXoF3gkPm3nE5b6w8yQ2uK4s",
            "$Ab3kT9sLq1vYcP7uJ2mW5xN8rE0dF6gH4iO1pZ3aQ2w",
            "$Qx8nV2bM5cL7kJ1hG4fD9sA3pO6iU0yT2rE5wQ8zX1v"
        ],
        "content": {
            "body": "Hello there, this is a fairly ordinary chat message with some text in it.",
            "msgtype": "m.text",
            "m.mentions": {"user_ids": ["@bob:example.org"]}
        },
        "depth": 4711,
        "hashes": {"sha256": "ThisIsNotARealHashButItHasTheRightLengthAbCd"},
        "origin_server_ts": 1_764_000_000_000_i64,
        "prev_events": ["$Zq1wX2eC3rV4tB5yN6uM7iK8oL9pA0sD1fG2hJ3kL4z"],
        "room_id": "!OGEhHVWSdvArJzumhm:example.org",
        "sender": "@alice:example.org",
        "type": "m.room.message",
        "unsigned": {"age_ts": 1_764_000_000_000_i64}
    })
}

/// A room of `members` joined users that forked into two branches, each adding
/// `conflicts / 2` state events (topics, power level changes, kicks) the other lacks.
pub struct LargeRoom {
    pub version: RoomVersion,
    pub events: HashMap<String, Pdu>,
    pub state_sets: Vec<StateIds>,
}

const ADMIN: &str = "@admin:example.org";

fn member(n: usize) -> String {
    format!("@user{n}:example.org")
}

impl LargeRoom {
    pub fn build(version: RoomVersion, members: usize, conflicts: usize) -> Self {
        let mut room = Builder {
            version,
            events: HashMap::new(),
            counter: 0,
            state: StateIds::new(),
            head: None,
        };
        let mut create = json!({"room_version": version.id});
        if !version.auth.creator_is_sender {
            create["creator"] = json!(ADMIN);
        }
        room.add(ADMIN, "m.room.create", "", create);
        room.add(ADMIN, "m.room.member", ADMIN, json!({"membership": "join"}));
        let mut users = serde_json::Map::new();
        if !version.auth.creators_have_infinite_power {
            users.insert(ADMIN.to_owned(), json!(100));
        }
        for n in 0..10 {
            users.insert(member(n), json!(50));
        }
        room.add(
            ADMIN,
            "m.room.power_levels",
            "",
            json!({"users": users.clone()}),
        );
        room.add(
            ADMIN,
            "m.room.join_rules",
            "",
            json!({"join_rule": "public"}),
        );
        for n in 0..members {
            let user = member(n);
            room.add(&user, "m.room.member", &user, json!({"membership": "join"}));
        }
        let fork = (room.state.clone(), room.head.clone());
        let mut sets = Vec::new();
        for branch in 0..2 {
            room.state = fork.0.clone();
            room.head = fork.1.clone();
            for k in 0..conflicts / 2 {
                match k % 3 {
                    0 => {
                        let sender = member(branch * 5 + k % 5);
                        room.add(
                            &sender,
                            "m.room.topic",
                            "",
                            json!({"topic": format!("b{branch} t{k}")}),
                        );
                    }
                    1 => {
                        let mut users = users.clone();
                        users.insert(member(100 + k), json!(10 + branch));
                        room.add(ADMIN, "m.room.power_levels", "", json!({"users": users}));
                    }
                    _ => {
                        let target = member(1000 + branch * 5000 + k);
                        room.add(
                            &member(branch),
                            "m.room.member",
                            &target,
                            json!({"membership": "leave"}),
                        );
                    }
                }
            }
            sets.push(room.state.clone());
        }
        LargeRoom {
            version,
            events: room.events,
            state_sets: sets,
        }
    }

    /// The room converted for ruma's state-res, ready to resolve.
    pub fn ruma_oracle(&self) -> RumaOracle {
        let rules = RoomVersionId::try_from(self.version.id)
            .expect("known")
            .rules()
            .expect("known");
        RumaOracle {
            events: self
                .events
                .values()
                .map(|p| (owned_event_id(&p.event_id), Arc::new(RumaPdu::from(p))))
                .collect(),
            sets: self
                .state_sets
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|((t, k), id)| {
                            (
                                (StateEventType::from(t.as_str()), k.to_string()),
                                owned_event_id(id),
                            )
                        })
                        .collect()
                })
                .collect(),
            rules,
        }
    }
}

/// ruma's state-res on a [`LargeRoom`]. `resolve` includes what ruma leaves to its caller (the
/// auth chains and, for v12, the conflicted subgraph), as a server using it would pay, done
/// as cheaply as such a server reasonably could: events behind `Arc` (a fetch clones a
/// pointer), chains walked over borrowed ids with one `foldhash` set each, and ruma's own
/// result type returned (converting it for comparison is not timed).
pub struct RumaOracle {
    events: HashMap<OwnedEventId, Arc<RumaPdu>>,
    sets: Vec<oracle::StateMap<OwnedEventId>>,
    rules: RoomVersionRules,
}

impl RumaOracle {
    pub fn resolve(&self) -> oracle::StateMap<OwnedEventId> {
        let chains: Vec<_> = self
            .sets
            .iter()
            .map(|set| {
                let mut seen: foldhash::HashSet<&EventId> = foldhash::HashSet::default();
                let mut stack: Vec<&EventId> = set.values().map(|id| &**id).collect();
                while let Some(id) = stack.pop() {
                    if seen.insert(id) {
                        stack.extend(self.events[id].auth.iter().map(|a| &**a));
                    }
                }
                seen.into_iter().map(EventId::to_owned).collect()
            })
            .collect();
        let v2 = *self
            .rules
            .state_res
            .v2_rules()
            .expect("room versions 2 and later");
        oracle::resolve(
            &self.rules.authorization,
            &v2,
            self.sets.iter(),
            chains,
            |id| self.events.get(id).cloned(),
            |conflicted| Some(self.conflicted_subgraph(conflicted)),
        )
        .expect("ruma resolves")
    }

    /// Events on auth paths between conflicted events (what ruma asks its caller for in v12).
    fn conflicted_subgraph(
        &self,
        conflicted: &oracle::StateMap<Vec<OwnedEventId>>,
    ) -> oracle::utils::event_id_set::EventIdSet<OwnedEventId> {
        let targets: HashSet<&EventId> = conflicted.values().flatten().map(|id| &**id).collect();
        fn walk<'a>(
            id: &'a EventId,
            events: &'a HashMap<OwnedEventId, Arc<RumaPdu>>,
            targets: &HashSet<&EventId>,
            memo: &mut HashMap<&'a EventId, bool>,
        ) -> bool {
            if let Some(&known) = memo.get(id) {
                return known;
            }
            memo.insert(id, false);
            let hit = events[id]
                .auth
                .iter()
                .any(|a| targets.contains(&**a) || walk(a, events, targets, memo));
            memo.insert(id, hit);
            hit
        }
        let mut reaches = HashMap::new();
        let mut out = oracle::utils::event_id_set::EventIdSet::new();
        let mut stack: Vec<&EventId> = targets.iter().copied().collect();
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if targets.contains(id) || walk(id, &self.events, &targets, &mut reaches) {
                out.insert(id.to_owned());
            }
            stack.extend(self.events[id].auth.iter().map(|a| &**a));
        }
        out
    }
}

/// ruma's resolved state in REChain's shape, to compare the two.
pub fn to_state_ids(state: oracle::StateMap<OwnedEventId>) -> StateIds {
    state
        .into_iter()
        .map(|((t, k), id)| (event::state_key(&t.to_string(), &k), id.to_string()))
        .collect()
}

struct Builder {
    version: RoomVersion,
    events: HashMap<String, Pdu>,
    counter: usize,
    state: StateIds,
    head: Option<String>,
}

impl Builder {
    fn add(&mut self, sender: &str, event_type: &str, state_key: &str, content: Value) {
        let id = format!("$e{}:example.org", self.counter);
        self.counter += 1;
        let mut json = json!({
            "event_id": id, "type": event_type, "sender": sender, "state_key": state_key,
            "content": content, "prev_events": self.head.iter().collect::<Vec<_>>(),
            "depth": self.counter, "origin_server_ts": self.counter,
            "signatures": {"example.org": {}},
        });
        if !(self.version.auth.room_id_is_create_event_id && event_type == "m.room.create") {
            json["room_id"] = json!(if self.version.auth.room_id_is_create_event_id {
                "!e0:example.org"
            } else {
                "!room:example.org"
            });
        }
        let draft = Pdu::from_trusted_json(json.clone(), &self.version).expect("valid");
        let auth: Vec<&String> = auth::auth_types_for_event(&self.version, &draft)
            .into_iter()
            .filter_map(|key| self.state.get(&key))
            .collect();
        json["auth_events"] = json!(auth);
        let pdu = Pdu::from_trusted_json(json, &self.version).expect("valid");
        self.state.insert(
            event::state_key(event_type, state_key),
            pdu.event_id.clone(),
        );
        self.head = Some(pdu.event_id.clone());
        self.events.insert(pdu.event_id.clone(), pdu);
    }
}

fn owned_event_id(id: &str) -> OwnedEventId {
    OwnedEventId::try_from(id).expect("valid event id")
}

/// A PDU in the shape ruma's state-res reads.
#[derive(Clone, Debug)]
pub struct RumaPdu {
    id: OwnedEventId,
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    ts: MilliSecondsSinceUnixEpoch,
    kind: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    prev: Vec<OwnedEventId>,
    auth: Vec<OwnedEventId>,
}

impl From<&Pdu> for RumaPdu {
    fn from(pdu: &Pdu) -> Self {
        Self {
            id: owned_event_id(&pdu.event_id),
            room_id: pdu
                .room_id
                .as_deref()
                .map(|r| OwnedRoomId::try_from(r).expect("valid room id")),
            sender: OwnedUserId::try_from(pdu.sender.as_str()).expect("valid user id"),
            ts: MilliSecondsSinceUnixEpoch(
                UInt::try_from(pdu.origin_server_ts).unwrap_or_default(),
            ),
            kind: TimelineEventType::from(pdu.event_type.as_str()),
            content: serde_json::value::to_raw_value(&pdu.content).expect("serialisable"),
            state_key: pdu.state_key.clone(),
            prev: pdu.prev_events.iter().map(|i| owned_event_id(i)).collect(),
            auth: pdu.auth_events.iter().map(|i| owned_event_id(i)).collect(),
        }
    }
}

impl ruma::state_res::Event for RumaPdu {
    type Id = OwnedEventId;
    fn event_id(&self) -> &Self::Id {
        &self.id
    }
    fn room_id(&self) -> Option<&ruma::RoomId> {
        self.room_id.as_deref()
    }
    fn sender(&self) -> &ruma::UserId {
        &self.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.ts
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }
    fn content(&self) -> &RawValue {
        &self.content
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth.iter())
    }
    fn redacts(&self) -> Option<&Self::Id> {
        None
    }
    fn rejected(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_room_resolves_alike_on_both_sides() {
        for version in [RoomVersion::V2, RoomVersion::V11, RoomVersion::V12] {
            let room = LargeRoom::build(version, 300, 60);
            assert!(room.state_sets[0] != room.state_sets[1]);
            let ours =
                rechain_server::core::state_res::resolve(&version, &room.state_sets, &room.events)
                    .unwrap();
            let theirs = to_state_ids(room.ruma_oracle().resolve());
            assert_eq!(ours, theirs, "v{}", version.id);
        }
    }
}
