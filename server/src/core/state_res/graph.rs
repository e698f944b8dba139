//! The auth-event graph of one resolution run, over interned event indices.

use std::collections::HashMap;

use crate::core::event::Pdu;

/// Where resolution finds events.
pub trait EventSource {
    fn event(&self, id: &str) -> Option<&Pdu>;
    /// Events rejected against their own auth chain are never used as auth events.
    fn is_rejected(&self, _id: &str) -> bool {
        false
    }
}

pub type Idx = u32;

/// Events reachable from the state sets through `auth_events`, interned.
pub struct Graph<'a> {
    pub events: Vec<&'a Pdu>,
    index: HashMap<&'a str, Idx>,
    /// `auth[i]`: the interned auth events of event `i` that the source has.
    pub auth: Vec<Vec<Idx>>,
}

impl<'a> Graph<'a> {
    /// Interns `roots` and everything reachable from them through `auth_events`.
    pub fn build(roots: impl IntoIterator<Item = &'a str>, source: &'a dyn EventSource) -> Self {
        let mut graph = Graph {
            events: Vec::new(),
            index: HashMap::new(),
            auth: Vec::new(),
        };
        let mut stack: Vec<Idx> = Vec::new();
        for id in roots {
            if let Some(i) = graph.intern(id, source) {
                stack.push(i);
            }
        }
        let mut expanded = vec![false; graph.events.len()];
        while let Some(i) = stack.pop() {
            let i_usize = i as usize;
            if expanded.len() <= i_usize {
                expanded.resize(graph.events.len(), false);
            }
            if expanded[i_usize] {
                continue;
            }
            expanded[i_usize] = true;
            let pdu = graph.events[i_usize];
            let mut edges = Vec::with_capacity(pdu.auth_events.len());
            for auth_id in &pdu.auth_events {
                if let Some(a) = graph.intern(auth_id, source) {
                    edges.push(a);
                    stack.push(a);
                }
            }
            graph.auth[i_usize] = edges;
        }
        graph
    }

    fn intern(&mut self, id: &str, source: &'a dyn EventSource) -> Option<Idx> {
        if let Some(&i) = self.index.get(id) {
            return Some(i);
        }
        let pdu = source.event(id)?;
        let i = Idx::try_from(self.events.len()).expect("fewer than 2^32 events");
        self.events.push(pdu);
        self.index.insert(pdu.event_id.as_str(), i);
        self.auth.push(Vec::new());
        Some(i)
    }

    pub fn idx(&self, id: &str) -> Option<Idx> {
        self.index.get(id).copied()
    }

    pub fn pdu(&self, i: Idx) -> &'a Pdu {
        self.events[i as usize]
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Marks every event in `starts` and their auth chains in `out`.
    pub fn mark_closure(&self, starts: impl IntoIterator<Item = Idx>, out: &mut [bool]) {
        let mut stack: Vec<Idx> = starts.into_iter().collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut out[i as usize], true) {
                continue;
            }
            stack.extend(
                self.auth[i as usize]
                    .iter()
                    .copied()
                    .filter(|a| !out[*a as usize]),
            );
        }
    }
}
