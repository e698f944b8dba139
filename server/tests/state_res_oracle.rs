//! State resolution against ruma's state-res crate as an oracle, and the algebraic properties
//! resolution must have, over random rooms (`common::room_gen`).
//!
//! Both sides get the same inputs. ruma takes the auth chains and the v12 conflicted subgraph
//! from its caller; this file computes them naively and independently of REChain's code.

mod common;

use std::collections::{HashMap, HashSet};

use common::room_gen::{Op, Room};
use proptest::{prelude::*, test_runner::FileFailurePersistence};
use rechain_server::core::{
    event::{Pdu, state_key},
    room_version::RoomVersion,
    state_res::{self, StateIds},
};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomVersionId, UInt,
    events::{StateEventType, TimelineEventType},
    state_res::{self as oracle, Event},
};
use serde_json::value::RawValue;

#[derive(Clone, Debug)]
struct RumaPdu {
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

impl RumaPdu {
    fn from(pdu: &Pdu) -> Self {
        Self {
            id: OwnedEventId::try_from(pdu.event_id.as_str()).unwrap(),
            room_id: pdu
                .room_id
                .as_deref()
                .map(|r| OwnedRoomId::try_from(r).unwrap()),
            sender: OwnedUserId::try_from(pdu.sender.as_str()).unwrap(),
            ts: MilliSecondsSinceUnixEpoch(UInt::try_from(pdu.origin_server_ts).unwrap()),
            kind: TimelineEventType::from(pdu.event_type.as_str()),
            content: serde_json::value::to_raw_value(&pdu.content).unwrap(),
            state_key: pdu.state_key.clone(),
            prev: pdu
                .prev_events
                .iter()
                .map(|i| OwnedEventId::try_from(i.as_str()).unwrap())
                .collect(),
            auth: pdu
                .auth_events
                .iter()
                .map(|i| OwnedEventId::try_from(i.as_str()).unwrap())
                .collect(),
        }
    }
}

impl Event for RumaPdu {
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

/// The set's events and everything in their auth chains.
fn naive_chain(
    events: &HashMap<String, Pdu>,
    starts: impl IntoIterator<Item = String>,
) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = starts.into_iter().collect();
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone())
            && let Some(pdu) = events.get(&id)
        {
            stack.extend(pdu.auth_events.iter().cloned());
        }
    }
    seen
}

fn ruma_resolve(room: &Room, sets: &[StateIds]) -> StateIds {
    let rules = RoomVersionId::try_from(room.version.id)
        .unwrap()
        .rules()
        .unwrap();
    let v2 = *rules.state_res.v2_rules().expect("v2 rules");
    let converted: HashMap<OwnedEventId, RumaPdu> = room
        .events
        .values()
        .map(|p| {
            (
                OwnedEventId::try_from(p.event_id.as_str()).unwrap(),
                RumaPdu::from(p),
            )
        })
        .collect();
    let maps: Vec<oracle::StateMap<OwnedEventId>> = sets
        .iter()
        .map(|s| {
            s.iter()
                .map(|((t, k), id)| {
                    (
                        (StateEventType::from(t.as_str()), k.to_string()),
                        OwnedEventId::try_from(id.as_str()).unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    let chains: Vec<_> = sets
        .iter()
        .map(|s| {
            naive_chain(&room.events, s.values().cloned())
                .into_iter()
                .map(|id| OwnedEventId::try_from(id.as_str()).unwrap())
                .collect()
        })
        .collect();
    let events = &room.events;
    let subgraph = |conflicted: &oracle::StateMap<Vec<OwnedEventId>>| {
        let conflicted: HashSet<String> = conflicted
            .values()
            .flatten()
            .map(|i| i.to_string())
            .collect();
        let below: HashMap<&String, HashSet<String>> = conflicted
            .iter()
            .map(|c| (c, naive_chain(events, [c.clone()])))
            .collect();
        let mut out = ruma::state_res::utils::event_id_set::EventIdSet::new();
        for id in events.keys() {
            let from_conflicted = below.values().any(|chain| chain.contains(id));
            let to_conflicted = naive_chain(events, [id.clone()])
                .iter()
                .any(|x| conflicted.contains(x));
            if from_conflicted && to_conflicted {
                out.insert(OwnedEventId::try_from(id.as_str()).unwrap());
            }
        }
        Some(out)
    };
    let resolved = oracle::resolve(
        &rules.authorization,
        &v2,
        maps.iter(),
        chains,
        |id| converted.get(id).cloned(),
        subgraph,
    )
    .expect("ruma resolves");
    resolved
        .into_iter()
        .map(|((t, k), id)| (state_key(&t.to_string(), &k), id.to_string()))
        .collect()
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(kind, a, b, branch, value)| Op {
                kind,
                a,
                b,
                branch,
                value,
            }),
        4..60,
    )
}

fn arb_version() -> impl Strategy<Value = RoomVersion> {
    prop::sample::select(RoomVersion::ALL[1..].to_vec())
}

/// Failing seeds live beside the library's, in `server/proptest-regressions/`, rather than
/// proptest's default for integration tests (a file next to this one).
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/state_res_oracle.txt"
        )))),
        ..ProptestConfig::with_cases(200)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn resolution_agrees_with_ruma(version in arb_version(), ops in arb_ops()) {
        let room = Room::generate(version, &ops);
        // Known divergence: with no `m.room.join_rules` in the state or the auth events, ruma
        // refuses every join, while REChain (like Synapse) treats the room as invite-only, so a
        // member who is already joined may join again. `fixtures/auth/member.json` pins our
        // side (`without_join_rules_a_joined_member_may_join_again`); such rooms are left out.
        prop_assume!(!room.has_join_without_join_rules());
        // Known divergence: a power-levels event that removes `state_default` (or another
        // single level) is checked by ruma against the property's default, by REChain (like
        // Synapse) not at all. Pinned by `removing_a_level_is_not_checked_against_its_default`
        // in `fixtures/auth/power_levels.json`; such rooms are left out.
        prop_assume!(!room.has_removed_power_level());
        let sets = room.state_sets();
        let ours = state_res::resolve(&version, &sets, &room.events).unwrap();
        let theirs = ruma_resolve(&room, &sets);
        prop_assert_eq!(ours, theirs, "room version {}", version.id);
    }

    #[test]
    fn resolution_does_not_depend_on_the_order_of_state_sets(version in prop::sample::select(RoomVersion::ALL.to_vec()), ops in arb_ops()) {
        let room = Room::generate(version, &ops);
        let mut sets = room.state_sets();
        let forward = state_res::resolve(&version, &sets, &room.events).unwrap();
        sets.reverse();
        prop_assert_eq!(&forward, &state_res::resolve(&version, &sets, &room.events).unwrap());
        sets.rotate_left(1);
        prop_assert_eq!(&forward, &state_res::resolve(&version, &sets, &room.events).unwrap());
    }

    /// Walking the finished DAG event by event recomputes, for every event, the state the
    /// generator computed while building it branch by branch (merging as it went), and
    /// rejects nothing, since every event passed auth when it was built.
    #[test]
    fn dag_walk_agrees_with_incremental_states(version in prop::sample::select(RoomVersion::ALL.to_vec()), ops in arb_ops()) {
        let room = Room::generate(version, &ops);
        prop_assume!(!room.has_stale_state);
        let walk = state_res::dag::walk(&version, &room.events).unwrap();
        prop_assert!(walk.rejected.is_empty(), "rejected: {:?}", walk.rejected);
        for (id, expected) in &room.state_after {
            prop_assert_eq!(&walk.state_after[id], expected, "state after {}", id);
        }
    }

    #[test]
    fn resolution_is_idempotent(version in prop::sample::select(RoomVersion::ALL.to_vec()), ops in arb_ops()) {
        let room = Room::generate(version, &ops);
        let sets = room.state_sets();
        let once = state_res::resolve(&version, &sets, &room.events).unwrap();
        let twice = state_res::resolve(&version, &[once.clone(), once.clone()], &room.events).unwrap();
        prop_assert_eq!(&once, &twice);
        let mut with_result = sets.clone();
        with_result.push(once.clone());
        let again = state_res::resolve(&version, &[once.clone(), state_res::resolve(&version, &with_result, &room.events).unwrap()], &room.events).unwrap();
        prop_assert_eq!(state_res::resolve(&version, &[again.clone(), again.clone()], &room.events).unwrap(), again);
    }
}
