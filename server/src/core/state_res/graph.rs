//! The auth-event graph of one resolution run, over interned event indices.

use crate::core::event::Pdu;

/// Where resolution finds events.
pub trait EventSource {
    /// The event with this id. Within one resolution the same id must give the same
    /// reference (as any map does): the graph recognises events it holds by address.
    fn event(&self, id: &str) -> Option<&Pdu>;
    /// Events rejected against their own auth chain are never used as auth events.
    fn is_rejected(&self, _id: &str) -> bool {
        false
    }
}

pub type Idx = u32;

/// Events reachable from the state sets through `auth_events`, interned. Edges are stored
/// flat (`edges[offsets[i]..offsets[i + 1]]`); most rooms' graphs are mostly members citing
/// the same few events, so this keeps the walk cache-friendly and allocation-light.
pub struct Graph<'a> {
    pub events: Vec<&'a Pdu>,
    index: foldhash::HashMap<&'a str, Idx>,
    by_address: foldhash::HashMap<*const Pdu, Idx>,
    offsets: Vec<u32>,
    edges: Vec<Idx>,
}

impl<'a> Graph<'a> {
    /// Interns `roots` and everything reachable from them through `auth_events`, breadth
    /// first, so each event's edges are laid out once, in discovery order.
    pub fn build(roots: impl IntoIterator<Item = &'a str>, source: &'a dyn EventSource) -> Self {
        let mut graph = Graph {
            events: Vec::new(),
            index: foldhash::HashMap::default(),
            by_address: foldhash::HashMap::default(),
            offsets: vec![0],
            edges: Vec::new(),
        };
        for id in roots {
            graph.intern(id, source);
        }
        // Events are expanded in index order; interning appends, so this visits everything.
        let mut next = 0;
        while next < graph.events.len() {
            let pdu = graph.events[next];
            for auth_id in &pdu.auth_events {
                if let Some(a) = graph.intern(auth_id, source) {
                    graph.edges.push(a);
                }
            }
            graph
                .offsets
                .push(u32::try_from(graph.edges.len()).expect("fewer than 2^32 edges"));
            next += 1;
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
        self.by_address.insert(std::ptr::from_ref(pdu), i);
        Some(i)
    }

    pub fn idx(&self, id: &str) -> Option<Idx> {
        self.index.get(id).copied()
    }

    /// The index of an event from the same source, found by address: no id to hash.
    pub fn idx_of(&self, pdu: &Pdu) -> Option<Idx> {
        self.by_address.get(&std::ptr::from_ref(pdu)).copied()
    }

    pub fn pdu(&self, i: Idx) -> &'a Pdu {
        self.events[i as usize]
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The interned auth events of event `i`.
    pub fn auth(&self, i: Idx) -> &[Idx] {
        &self.edges[self.offsets[i as usize] as usize..self.offsets[i as usize + 1] as usize]
    }

    /// Marks every event in `starts` and their auth chains in `out`.
    pub fn mark_closure(&self, starts: impl IntoIterator<Item = Idx>, out: &mut [bool]) {
        let mut stack: Vec<Idx> = starts.into_iter().collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut out[i as usize], true) {
                continue;
            }
            stack.extend(self.auth(i).iter().copied().filter(|a| !out[*a as usize]));
        }
    }
}
