//! State resolution v2 (room versions 2–11) and v2.1 (room version 12).
//!
//! Where the spec leaves a choice open this follows Synapse, the implementation most of the
//! federation runs:
//! - the full auth chain of a state set includes the set's own events;
//! - the graph for the reverse topological power ordering follows `auth_events` edges only
//!   between events of the full conflicted set.

use std::{
    cmp::{Ordering, Reverse},
    collections::{BinaryHeap, HashMap},
};

use serde_json::Value;

use super::{
    Conflicted, EventSource, Split, StateIds, StateResError, find_create,
    graph::{Graph, Idx},
    require, split_conflicts,
};
use crate::core::{
    auth::{self, Level, PowerLevels, StateMap, StateView},
    event::{POWER_LEVELS_KEY, Pdu, StateKey, state_key},
    room_version::{RoomVersion, StateResolution},
};

pub fn resolve(
    version: &RoomVersion,
    state_sets: &[StateIds],
    source: &dyn EventSource,
) -> Result<StateIds, StateResError> {
    let Split {
        unconflicted,
        unconflicted_ids,
        conflicted,
    } = split_conflicts(state_sets);
    if conflicted.is_empty() {
        return Ok(unconflicted);
    }
    let create = find_create(version, state_sets, source);
    // Only the conflicted events and their auth chains are interned: the unconflicted state
    // (in a large room, thousands of members) is walked once, by `mark_unconflicted_chain`,
    // without entering the graph.
    let graph = Graph::build(conflicted.values().flatten().map(String::as_str), source);
    let n = graph.len();

    let conflicted_idx = conflicted
        .values()
        .flatten()
        .map(|id| {
            graph
                .idx(id)
                .ok_or_else(|| StateResError::MissingEvent(id.clone()))
        })
        .collect::<Result<Vec<Idx>, _>>()?;

    let mut full = vec![false; n];
    for &i in &conflicted_idx {
        full[i as usize] = true;
    }
    for i in auth_difference(&graph, state_sets, &conflicted, &unconflicted_ids, source)? {
        full[i as usize] = true;
    }
    if version.state_resolution == StateResolution::V2_1 {
        for i in conflicted_subgraph(&graph, &conflicted_idx) {
            full[i as usize] = true;
        }
    }

    // Step 1: power events of the full conflicted set, with their auth chains within it.
    let mut in_power = vec![false; n];
    let mut stack: Vec<Idx> = (0..n as Idx)
        .filter(|&i| full[i as usize] && is_power_event(graph.pdu(i)))
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut in_power[i as usize], true) {
            continue;
        }
        stack.extend(graph.auth(i).iter().copied().filter(|&a| full[a as usize]));
    }
    let power: Vec<Idx> = (0..n as Idx).filter(|&i| in_power[i as usize]).collect();
    let sorted_power = reverse_topological_power_sort(version, &graph, &power, &in_power, create);

    // Step 2: iterative auth checks from the unconflicted state (v2) or from nothing (v2.1).
    // v2 starts from the unconflicted map itself, remembering what it overwrites, rather than
    // copying a map the size of the room.
    let v2_1 = version.state_resolution == StateResolution::V2_1;
    let (start, unconflicted) = if v2_1 {
        (StateIds::new(), Some(unconflicted))
    } else {
        (unconflicted, None)
    };
    let mut partial = Resolving::new(start, !v2_1);
    iterative_auth_checks(version, &graph, &sorted_power, &mut partial, create, source);

    // Step 3: the rest, in mainline order of the partially resolved power levels.
    let rest: Vec<Idx> = (0..n as Idx)
        .filter(|&i| full[i as usize] && !in_power[i as usize])
        .collect();
    let resolved_pl = partial
        .state
        .get(&POWER_LEVELS_KEY)
        .and_then(|id| graph.idx(id));
    let sorted_rest = mainline_sort(&graph, &rest, resolved_pl);

    // Step 4.
    iterative_auth_checks(version, &graph, &sorted_rest, &mut partial, create, source);

    // Step 5: the unconflicted state wins over whatever replaced it.
    Ok(match unconflicted {
        Some(mut unconflicted) => {
            for (key, id) in partial.state {
                unconflicted.entry(key).or_insert(id);
            }
            unconflicted
        }
        None => {
            let mut resolved = partial.state;
            for (key, id) in partial.overwritten {
                resolved.insert(key, id);
            }
            resolved
        }
    })
}

/// The state being built by the iterative auth checks. When it started from the unconflicted
/// map (`track`), a key's value from that map is kept in `overwritten` when the checks first
/// replace it, for step 5 to restore.
struct Resolving {
    state: StateIds,
    overwritten: Vec<(StateKey, String)>,
    written: std::collections::HashSet<StateKey>,
    track: bool,
}

impl Resolving {
    fn new(state: StateIds, track: bool) -> Self {
        Self {
            state,
            overwritten: Vec::new(),
            written: Default::default(),
            track,
        }
    }

    fn set(&mut self, key: StateKey, id: String) {
        let old = self.state.insert(key.clone(), id);
        if self.track
            && self.written.insert(key.clone())
            && let Some(old) = old
        {
            self.overwritten.push((key, old));
        }
    }
}

/// Events in some but not all of the state sets' full auth chains.
///
/// Set i's full chain is the chain of the unconflicted state U plus the chain of its own
/// conflicted events C_i. Whatever lies in U's chain is in every set's chain, so the difference
/// is the events in some but not all chains of the C_i (all of them in the graph), less those
/// that U's chain also reaches.
fn auth_difference(
    graph: &Graph<'_>,
    state_sets: &[StateIds],
    conflicted: &Conflicted,
    unconflicted_ids: &[&str],
    source: &dyn EventSource,
) -> Result<Vec<Idx>, StateResError> {
    let n = graph.len();
    let mut count = vec![0u32; n];
    let mut chain = vec![false; n];
    for set in state_sets {
        chain.fill(false);
        let own = conflicted.keys().filter_map(|key| set.get(key));
        graph.mark_closure(own.filter_map(|id| graph.idx(id)), &mut chain);
        for (c, &in_chain) in count.iter_mut().zip(&chain) {
            *c += u32::from(in_chain);
        }
    }
    let in_unconflicted_chain = mark_unconflicted_chain(graph, unconflicted_ids, source)?;
    let all = state_sets.len() as u32;
    Ok((0..n as Idx)
        .filter(|&i| {
            let c = count[i as usize];
            c > 0 && c < all && !in_unconflicted_chain[i as usize]
        })
        .collect())
}

/// Which graph events lie in the full auth chain of the unconflicted state. Its events'
/// auth events are looked up by id, once each; events outside the graph are followed (their
/// chains may lead back into it) but never interned.
fn mark_unconflicted_chain<'a>(
    graph: &Graph<'_>,
    unconflicted_ids: &[&str],
    source: &'a dyn EventSource,
) -> Result<Vec<bool>, StateResError> {
    // Graph events the unconflicted state reaches directly (repeats are cheap:
    // `mark_closure` skips what it has marked).
    let mut starts: Vec<Idx> = Vec::new();
    let mut outside: Vec<&Pdu> = Vec::new();
    let mut seen_outside: foldhash::HashSet<&str> = foldhash::HashSet::default();
    let mut visit =
        |auth_id: &'a str, starts: &mut Vec<Idx>, outside: &mut Vec<&'a Pdu>| match graph
            .idx(auth_id)
        {
            Some(i) => starts.push(i),
            None => {
                if seen_outside.insert(auth_id)
                    && let Some(auth_event) = source.event(auth_id)
                {
                    outside.push(auth_event);
                }
            }
        };
    // The reads are staged: every lookup, then every event's list of auth events, then the
    // ids in those lists. Each loop's body is short and independent of the one before, so
    // the processor overlaps the cache misses of many events instead of waiting on each.
    let pdus = unconflicted_ids
        .iter()
        .map(|id| require(source, id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lists: Vec<&'a [String]> = Vec::with_capacity(pdus.len());
    for pdu in pdus {
        match graph.idx_of(pdu) {
            Some(i) => starts.push(i),
            None => lists.push(&pdu.auth_events),
        }
    }
    let auth_ids: Vec<&'a str> = lists
        .iter()
        .flat_map(|l| l.iter().map(String::as_str))
        .collect();
    for auth_id in auth_ids {
        visit(auth_id, &mut starts, &mut outside);
    }
    while let Some(pdu) = outside.pop() {
        for auth_id in &pdu.auth_events {
            visit(auth_id, &mut starts, &mut outside);
        }
    }
    let mut marked = vec![false; graph.len()];
    graph.mark_closure(starts, &mut marked);
    Ok(marked)
}

/// MSC4297: the events on `auth_events` paths from one conflicted event to another.
fn conflicted_subgraph(graph: &Graph<'_>, conflicted: &[Idx]) -> Vec<Idx> {
    let n = graph.len();
    let mut is_conflicted = vec![false; n];
    for &c in conflicted {
        is_conflicted[c as usize] = true;
    }
    // Reachable from a conflicted event.
    let mut reachable = vec![false; n];
    graph.mark_closure(conflicted.iter().copied(), &mut reachable);
    // Reaches a conflicted event: memoised over the reachable part, iteratively (deep rooms
    // would overflow a recursive walk).
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unknown,
        InProgress,
        Yes,
        No,
    }
    let mut reaches = vec![Mark::Unknown; n];
    for start in (0..n as Idx).filter(|&i| reachable[i as usize]) {
        if reaches[start as usize] != Mark::Unknown {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        reaches[start as usize] = Mark::InProgress;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let edges = graph.auth(node);
            if *next < edges.len() {
                let child = edges[*next];
                *next += 1;
                if reaches[child as usize] == Mark::Unknown {
                    reaches[child as usize] = Mark::InProgress;
                    stack.push((child, 0));
                }
            } else {
                let hit = graph
                    .auth(node)
                    .iter()
                    .any(|&c| is_conflicted[c as usize] || reaches[c as usize] == Mark::Yes);
                reaches[node as usize] = if hit { Mark::Yes } else { Mark::No };
                stack.pop();
            }
        }
    }
    (0..n as Idx)
        .filter(|&i| {
            reachable[i as usize] && (is_conflicted[i as usize] || reaches[i as usize] == Mark::Yes)
        })
        .collect()
}

/// Power levels, join rules, and kicks or bans (a member event leaving or banning someone else).
pub fn is_power_event(pdu: &Pdu) -> bool {
    match (pdu.event_type.as_str(), pdu.state_key.as_deref()) {
        ("m.room.power_levels" | "m.room.join_rules", Some("")) => true,
        ("m.room.member", Some(target)) => {
            matches!(pdu.membership(), Some("leave" | "ban")) && target != pdu.sender
        }
        _ => false,
    }
}

/// The sender's power level according to the event's own auth events.
fn sender_power(version: &RoomVersion, graph: &Graph<'_>, i: Idx, create: Option<&Pdu>) -> Level {
    let pdu = graph.pdu(i);
    let auth: Vec<&Pdu> = graph.auth(i).iter().map(|&a| graph.pdu(a)).collect();
    let create = create.or_else(|| {
        auth.iter()
            .copied()
            .find(|p| p.event_type == "m.room.create")
    });
    if let Some(create) = create
        && version.auth.creators_have_infinite_power
    {
        let additional = create
            .content
            .get("additional_creators")
            .and_then(Value::as_array);
        let is_creator = create.sender == pdu.sender
            || additional
                .is_some_and(|list| list.iter().any(|u| u.as_str() == Some(pdu.sender.as_str())));
        if is_creator {
            return Level::Infinite;
        }
    }
    if let Some(pl) = auth
        .iter()
        .find(|p| p.state_key_pair() == Some(("m.room.power_levels", "")))
    {
        return Level::Finite(PowerLevels::user_level_in(
            &pl.content,
            &pdu.sender,
            version,
        ));
    }
    let creator = create.and_then(|c| {
        if version.auth.creator_is_sender {
            Some(c.sender.as_str())
        } else {
            c.content.get("creator").and_then(Value::as_str)
        }
    });
    if creator == Some(pdu.sender.as_str()) {
        Level::Finite(100)
    } else {
        Level::Finite(0)
    }
}

/// Kahn's algorithm over the auth DAG restricted to `members`, taking at each step the
/// smallest ready event by (greatest power, earliest timestamp, smallest id).
fn reverse_topological_power_sort(
    version: &RoomVersion,
    graph: &Graph<'_>,
    events: &[Idx],
    members: &[bool],
    create: Option<&Pdu>,
) -> Vec<Idx> {
    #[derive(PartialEq, Eq)]
    struct Key<'a> {
        power: Reverse<Level>,
        ts: i64,
        id: &'a str,
        idx: Idx,
    }
    impl Ord for Key<'_> {
        fn cmp(&self, other: &Self) -> Ordering {
            (self.power, self.ts, self.id).cmp(&(other.power, other.ts, other.id))
        }
    }
    impl PartialOrd for Key<'_> {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    // Edges point from an event to its auth events; an event is ready once all its auth events
    // (within the set) are placed.
    // Indexed by graph index: the graph is small (the conflicted events and their chains).
    let mut pending: Vec<usize> = vec![0; graph.len()];
    let mut dependents: Vec<Vec<Idx>> = vec![Vec::new(); graph.len()];
    let mut deps: Vec<Idx> = Vec::new();
    for &i in events {
        deps.clear();
        deps.extend(
            graph
                .auth(i)
                .iter()
                .copied()
                .filter(|&a| members[a as usize]),
        );
        deps.sort_unstable();
        deps.dedup();
        pending[i as usize] = deps.len();
        for &d in &deps {
            dependents[d as usize].push(i);
        }
    }
    let key = |i: Idx| Key {
        power: Reverse(sender_power(version, graph, i, create)),
        ts: graph.pdu(i).origin_server_ts,
        id: graph.pdu(i).event_id.as_str(),
        idx: i,
    };
    let mut ready: BinaryHeap<Reverse<Key<'_>>> = events
        .iter()
        .copied()
        .filter(|&i| pending[i as usize] == 0)
        .map(|i| Reverse(key(i)))
        .collect();
    let mut out = Vec::with_capacity(events.len());
    while let Some(Reverse(next)) = ready.pop() {
        out.push(next.idx);
        for &d in &dependents[next.idx as usize] {
            let left = &mut pending[d as usize];
            *left -= 1;
            if *left == 0 {
                ready.push(Reverse(key(d)));
            }
        }
    }
    out
}

/// Orders events by their position on the mainline of `power_levels` (older first, unknown
/// first of all), then timestamp, then id.
fn mainline_sort(graph: &Graph<'_>, events: &[Idx], power_levels: Option<Idx>) -> Vec<Idx> {
    let pl_parent = |i: Idx| {
        graph
            .auth(i)
            .iter()
            .copied()
            .find(|&a| graph.pdu(a).state_key_pair() == Some(("m.room.power_levels", "")))
    };
    // Position 0 is the resolved power levels event, 1 its predecessor, and so on.
    let mut mainline: HashMap<Idx, usize> = HashMap::new();
    let mut cursor = power_levels;
    while let Some(p) = cursor {
        if mainline.contains_key(&p) {
            break;
        }
        mainline.insert(p, mainline.len());
        cursor = pl_parent(p);
    }
    let position = |e: Idx| -> usize {
        let mut cursor = pl_parent(e);
        let mut steps = 0;
        while let Some(p) = cursor {
            if let Some(&pos) = mainline.get(&p) {
                return pos;
            }
            steps += 1;
            if steps > graph.len() {
                break;
            }
            cursor = pl_parent(p);
        }
        usize::MAX
    };
    let mut keyed: Vec<(Reverse<usize>, i64, &str, Idx)> = events
        .iter()
        .map(|&e| {
            (
                Reverse(position(e)),
                graph.pdu(e).origin_server_ts,
                graph.pdu(e).event_id.as_str(),
                e,
            )
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|k| k.3).collect()
}

/// Applies each event in order if it passes auth against the state built so far (falling back
/// to the event's own, unrejected auth events for keys the state lacks).
fn iterative_auth_checks(
    version: &RoomVersion,
    graph: &Graph<'_>,
    events: &[Idx],
    resolving: &mut Resolving,
    create: Option<&Pdu>,
    source: &dyn EventSource,
) {
    for &i in events {
        let event = graph.pdu(i);
        let Some(own_key) = event.state_key.as_deref() else {
            continue;
        };
        let mut view = StateMap::new();
        for &a in graph.auth(i) {
            let auth_event = graph.pdu(a);
            if !source.is_rejected(&auth_event.event_id) {
                view.insert(auth_event);
            }
        }
        for key in auth::auth_types_for_event(version, event) {
            if let Some(id) = resolving.state.get(&key)
                && !source.is_rejected(id)
                && let Some(pdu) = source.event(id)
            {
                view.insert(pdu);
            }
        }
        if let Some(create) = create
            && view.create().is_none()
        {
            view.insert(create);
        }
        let signed_by = super::carries_signature_of;
        if auth::check(version, event, &view, &signed_by).is_ok() {
            resolving.set(
                state_key(&event.event_type, own_key),
                event.event_id.clone(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use serde_json::json;

    use super::*;

    fn event(id: &str, event_type: &str, state_key: &str, auth: &[&str]) -> (String, Pdu) {
        let json = json!({
            "event_id": format!("${id}:x"), "room_id": "!r:x", "sender": "@a:x",
            "type": event_type, "state_key": state_key, "content": {},
            "auth_events": auth.iter().map(|a| format!("${a}:x")).collect::<Vec<_>>(),
            "prev_events": [], "depth": 1, "origin_server_ts": 1,
        });
        let pdu = Pdu::from_trusted_json(json, &RoomVersion::V11).expect("valid");
        (pdu.event_id.clone(), pdu)
    }

    fn set(entries: &[(&str, &str, &str)]) -> StateIds {
        entries
            .iter()
            .map(|(t, k, id)| (state_key(t, k), format!("${id}:x")))
            .collect()
    }

    /// The full auth chains computed one by one, as the spec defines the difference.
    fn naive_difference(events: &HashMap<String, Pdu>, sets: &[StateIds]) -> HashSet<String> {
        let chains: Vec<HashSet<String>> = sets
            .iter()
            .map(|s| {
                let mut seen = HashSet::new();
                let mut stack: Vec<String> = s.values().cloned().collect();
                while let Some(id) = stack.pop() {
                    if seen.insert(id.clone()) {
                        stack.extend(events[&id].auth_events.iter().cloned());
                    }
                }
                seen
            })
            .collect();
        let union: HashSet<String> = chains.iter().flatten().cloned().collect();
        union
            .into_iter()
            .filter(|id| !chains.iter().all(|c| c.contains(id)))
            .collect()
    }

    /// An old power-levels event cited by one branch's topic is also in the chain of an
    /// unconflicted member event, through that member's previous membership, which no
    /// conflicted event reaches: it is in every full chain, so not in the difference.
    #[test]
    fn unconflicted_history_outside_the_conflicted_chains_still_counts() {
        let events: HashMap<String, Pdu> = [
            event("c", "m.room.create", "", &[]),
            event("p0", "m.room.power_levels", "", &["c"]),
            event("p1", "m.room.power_levels", "", &["c"]),
            event("invite", "m.room.member", "@b:x", &["c", "p0"]),
            event("join", "m.room.member", "@b:x", &["c", "invite"]),
            event("ta", "m.room.topic", "", &["c", "p0"]),
            event("tb", "m.room.topic", "", &["c", "p1"]),
        ]
        .into_iter()
        .collect();
        let sets = [
            set(&[
                ("m.room.create", "", "c"),
                ("m.room.power_levels", "", "p1"),
                ("m.room.member", "@b:x", "join"),
                ("m.room.topic", "", "ta"),
            ]),
            set(&[
                ("m.room.create", "", "c"),
                ("m.room.power_levels", "", "p1"),
                ("m.room.member", "@b:x", "join"),
                ("m.room.topic", "", "tb"),
            ]),
        ];
        let split = split_conflicts(&sets);
        let graph = Graph::build(
            split.conflicted.values().flatten().map(String::as_str),
            &events,
        );
        let ours: HashSet<String> = auth_difference(
            &graph,
            &sets,
            &split.conflicted,
            &split.unconflicted_ids,
            &events,
        )
        .unwrap()
        .into_iter()
        .map(|i| graph.pdu(i).event_id.clone())
        .collect();
        let expected = naive_difference(&events, &sets);
        assert_eq!(ours, expected);
        assert!(
            !ours.contains("$p0:x"),
            "p0 is reached from the unconflicted join"
        );
        assert_eq!(
            ours,
            HashSet::from(["$ta:x".to_owned(), "$tb:x".to_owned()])
        );
    }

    #[test]
    fn a_missing_unconflicted_event_is_reported() {
        let events: HashMap<String, Pdu> = [
            event("c", "m.room.create", "", &[]),
            event("ta", "m.room.topic", "", &["c"]),
            event("tb", "m.room.topic", "", &["c"]),
        ]
        .into_iter()
        .collect();
        let mut a = set(&[("m.room.create", "", "c"), ("m.room.topic", "", "ta")]);
        let mut b = set(&[("m.room.create", "", "c"), ("m.room.topic", "", "tb")]);
        for s in [&mut a, &mut b] {
            s.insert(state_key("m.room.name", ""), "$gone:x".into());
        }
        assert_eq!(
            resolve(&RoomVersion::V11, &[a.clone(), b.clone()], &events),
            Err(StateResError::MissingEvent("$gone:x".into()))
        );
        // A conflicted one too.
        a.remove(&state_key("m.room.name", ""));
        b.remove(&state_key("m.room.name", ""));
        a.insert(state_key("m.room.topic", ""), "$lost:x".into());
        assert_eq!(
            resolve(&RoomVersion::V11, &[a, b], &events),
            Err(StateResError::MissingEvent("$lost:x".into()))
        );
    }
}
