//! The append pipeline: events are built one after another, but committed in groups.
//!
//! Building an event needs the room's head (its forward extremities and current state), which
//! includes every event built before it, so building is serialised by the room service's
//! append lock. Committing is not: a built event waits in a queue and starts a commit task;
//! the first task to take the commit lock writes everything queued in one transaction (one
//! fsync for the group) and hands every waiter its result, and the tasks after it find less
//! or nothing to do. A send is acknowledged only after the transaction that holds it has
//! committed. Commits run in their own tasks so that a request dropped by its client cannot
//! stop one halfway, and one at a time so that groups commit in the order they were built.
//!
//! Each room's head (forward extremities, current state ids, memberships) is kept in memory
//! from its first build on and moved by every event built, so a build reads no state from the
//! database however large the room; events built but not committed are kept by id for the
//! builds that cite them as auth events, and state events once read as auth events stay
//! parsed.
//! **Invariant:** this pipeline is the only writer of room events, in the only process that
//! writes them, so a cached head is the database's head plus the events queued. If a group
//! fails to commit, every event built on it fails too: heads and queue are dropped (heads
//! are read again from the database), and a build that began before the failure (it carries
//! an older generation) is refused when it tries to queue.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use super::{
    Error, ErrorKind,
    event_cache::{EventCache, SyncForm},
    notifier::Notifier,
};
use crate::{
    core::{event::Pdu, room_version::RoomVersion},
    storage::{self, Append, NewEvent, Stores, TxnKey},
};

pub(super) struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    notifier: Arc<Notifier>,
    /// Committed state events go in here, ready for the first syncs that send them.
    event_cache: Arc<EventCache>,
    staged: Mutex<Staged>,
    commit_lock: tokio::sync::Mutex<()>,
}

/// Built events not yet committed, the queue they wait in, and the rooms' heads.
#[derive(Default)]
struct Staged {
    /// Bumped when a group fails: builds from before it must not queue.
    generation: u64,
    queue: Vec<Queued>,
    /// The queued events by id, for builds that cite them as auth events.
    events: HashMap<String, Pdu>,
    /// Committed state events that builds cited as auth events, parsed.
    committed_state: HashMap<String, Pdu>,
    heads: HashMap<String, Arc<Head>>,
    txns: HashSet<TxnKey>,
}

/// Parsed auth events kept at most (a few MiB); past it the cache starts again.
const COMMITTED_STATE_CACHE: usize = 4_096;

/// A room's head as of the last event built in it.
#[derive(Clone, Default)]
pub(super) struct Head {
    pub extremities: Vec<(String, i64)>,
    state: HashMap<(String, String), String>,
    /// user → (membership, member event id).
    members: HashMap<String, (String, String)>,
    joined_count: usize,
}

impl Head {
    pub fn state_id(&self, event_type: &str, state_key: &str) -> Option<&str> {
        self.state
            .get(&(event_type.to_owned(), state_key.to_owned()))
            .map(String::as_str)
    }

    /// Every member event's user → (membership, event id).
    pub fn members(&self) -> &HashMap<String, (String, String)> {
        &self.members
    }

    pub fn joined_count(&self) -> usize {
        self.joined_count
    }

    fn apply(&mut self, pdu: &Pdu, membership: Option<&str>) {
        // As the append does: the events it cites stop being extremities, it becomes one.
        self.extremities
            .retain(|(id, _)| !pdu.prev_events.contains(id));
        self.extremities.push((pdu.event_id.clone(), pdu.depth));
        // The store orders extremities deepest first; builds take the first twenty.
        self.extremities
            .sort_by_key(|(_, depth)| std::cmp::Reverse(*depth));
        if let Some(state_key) = &pdu.state_key {
            self.state.insert(
                (pdu.event_type.clone(), state_key.clone()),
                pdu.event_id.clone(),
            );
            if pdu.event_type == "m.room.member" {
                let membership = membership.unwrap_or_default().to_owned();
                let joins = membership == "join";
                let before = self
                    .members
                    .insert(state_key.clone(), (membership, pdu.event_id.clone()));
                let joined_before = before.is_some_and(|(m, _)| m == "join");
                match (joined_before, joins) {
                    (false, true) => self.joined_count += 1,
                    (true, false) => self.joined_count -= 1,
                    _ => {}
                }
            }
        }
    }
}

impl Staged {
    fn keep_committed(&mut self, pdu: Pdu) {
        if self.committed_state.len() >= COMMITTED_STATE_CACHE {
            self.committed_state.clear();
        }
        self.committed_state.insert(pdu.event_id.clone(), pdu);
    }
}

struct Queued {
    append: Append,
    done: oneshot::Sender<Result<(), Error>>,
}

/// A built event's place in the queue.
pub(super) struct Ticket {
    pub event_id: String,
    done: oneshot::Receiver<Result<(), Error>>,
}

impl Pipeline {
    pub fn new(stores: Stores, notifier: Arc<Notifier>, event_cache: Arc<EventCache>) -> Self {
        Self {
            inner: Arc::new(Inner {
                stores,
                notifier,
                event_cache,
                staged: Mutex::default(),
                commit_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.inner.staged()
    }

    /// The generation a build starts in; `queue` refuses it if a group failed since.
    pub fn generation(&self) -> u64 {
        self.staged().generation
    }

    /// The room's head, with the events built but not yet committed. Drop it before
    /// queueing: the head is updated in place when nobody else holds it.
    pub async fn head(&self, room_id: &str) -> Result<Arc<Head>, Error> {
        if let Some(head) = self.staged().heads.get(room_id) {
            return Ok(head.clone());
        }
        let generation = self.generation();
        let rooms = &self.inner.stores.rooms;
        let stored = rooms.room_head(room_id).await?;
        let members = rooms.room_members(room_id).await?;
        let joined_count = members.iter().filter(|(_, m, _)| m == "join").count();
        let head = Arc::new(Head {
            extremities: stored.extremities,
            state: stored
                .state
                .into_iter()
                .map(|(t, k, id)| ((t, k), id))
                .collect(),
            members: members
                .into_iter()
                .map(|(user, membership, id)| (user, (membership, id)))
                .collect(),
            joined_count,
        });
        let mut staged = self.staged();
        // A failed group in between may have left the database elsewhere; `queue` will
        // refuse this build, so the head is not kept.
        if staged.generation != generation {
            return Ok(head);
        }
        // Readers outside the append lock (permission checks) load heads too: whoever
        // stored one first may have built on it since, so a later load never replaces it.
        Ok(staged
            .heads
            .entry(room_id.to_owned())
            .or_insert(head)
            .clone())
    }

    /// An event by id, built or committed, parsed for `version`.
    pub async fn event(&self, event_id: &str, version: &RoomVersion) -> Result<Option<Pdu>, Error> {
        {
            let staged = self.staged();
            if let Some(pdu) = staged
                .events
                .get(event_id)
                .or_else(|| staged.committed_state.get(event_id))
            {
                return Ok(Some(pdu.clone()));
            }
        }
        let Some(stored) = self.inner.stores.rooms.get_event(event_id).await? else {
            return Ok(None);
        };
        let pdu = Pdu::from_json_with_known_id(stored.json, stored.event_id, version)
            .map_err(|e| Error::internal(format!("stored event {event_id}: {e}")))?;
        if pdu.state_key.is_some() {
            self.staged().keep_committed(pdu.clone());
        }
        Ok(Some(pdu))
    }

    /// Whether a built event with this transaction id is waiting to commit.
    pub fn txn_pending(&self, txn: &TxnKey) -> bool {
        self.staged().txns.contains(txn)
    }

    /// Queues a built event (built in `generation`) behind the ones before it.
    pub fn queue(
        &self,
        generation: u64,
        pdu: Pdu,
        event: NewEvent,
        txn: Option<TxnKey>,
    ) -> Result<Ticket, Error> {
        let mut staged = self.staged();
        if staged.generation != generation {
            return Err(Error::internal(
                "an earlier event of this room failed to commit; retry",
            ));
        }
        let head = match staged.heads.get_mut(&event.room_id) {
            Some(head) => head,
            // A new room starts from nothing; any other room's head was read by the build.
            None if pdu.event_type == "m.room.create" => {
                staged.heads.entry(event.room_id.clone()).or_default()
            }
            None => {
                return Err(Error::internal(
                    "an earlier event of this room failed to commit; retry",
                ));
            }
        };
        Arc::make_mut(head).apply(&pdu, event.membership.as_deref());
        let (done, waiting) = oneshot::channel();
        if let Some(txn) = &txn {
            staged.txns.insert(txn.clone());
        }
        let event_id = pdu.event_id.clone();
        let prev_events = pdu.prev_events.clone();
        staged.events.insert(event_id.clone(), pdu);
        staged.queue.push(Queued {
            append: Append {
                event,
                prev_events,
                txn,
            },
            done,
        });
        drop(staged);
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.commit_queue().await });
        Ok(Ticket {
            event_id,
            done: waiting,
        })
    }

    /// Waits until the ticket's event has committed.
    pub async fn committed(&self, ticket: Ticket) -> Result<String, Error> {
        match ticket.done.await {
            Ok(result) => result.map(|()| ticket.event_id),
            Err(_) => Err(Error::internal("a queued event was dropped uncommitted")),
        }
    }

    /// Commits whatever is queued now. For a caller that must see earlier events committed.
    pub async fn flush(&self) {
        self.inner.commit_queue().await;
    }
}

impl Inner {
    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().expect("append pipeline poisoned")
    }

    /// Writes the queue in one transaction and answers its waiters.
    async fn commit_queue(&self) {
        let _commit = self.commit_lock.lock().await;
        let group = std::mem::take(&mut self.staged().queue);
        if group.is_empty() {
            return;
        }
        let (appends, waiters): (Vec<Append>, Vec<_>) =
            group.into_iter().map(|q| (q.append, q.done)).unzip();
        let ids: Vec<String> = appends.iter().map(|a| a.event.event_id.clone()).collect();
        let txns: Vec<TxnKey> = appends.iter().filter_map(|a| a.txn.clone()).collect();
        let forms: Vec<(String, SyncForm)> = appends
            .iter()
            .filter(|a| a.event.state_key.is_some())
            .filter_map(|a| {
                let e = &a.event;
                let form = SyncForm::new(&e.json, &e.event_id, &e.room_id).ok()?;
                Some((e.event_id.clone(), form))
            })
            .collect();
        let result = self.stores.rooms.append_events(appends).await;
        let result = {
            let mut staged = self.staged();
            match result {
                Ok(_) => {
                    for event_id in &ids {
                        staged.events.remove(event_id);
                    }
                    for txn in &txns {
                        staged.txns.remove(txn);
                    }
                    Ok(())
                }
                Err(e) => {
                    // Everything built since was built on this group: none of it can stand,
                    // and the heads that include it are read again from the database.
                    let later = std::mem::take(&mut *staged);
                    staged.generation = later.generation + 1;
                    for queued in later.queue {
                        let _ = queued.done.send(Err(Error::internal(
                            "an earlier event of this room failed to commit; retry",
                        )));
                    }
                    Err(e)
                }
            }
        };
        match result {
            Ok(()) => {
                // Outside the staged lock: builds need not wait on the cache.
                for (event_id, form) in forms {
                    self.event_cache.insert(event_id, Arc::new(form));
                }
                for waiter in waiters {
                    let _ = waiter.send(Ok(()));
                }
                self.notifier.wake();
            }
            Err(e) => {
                tracing::warn!(error = %e, events = ids.len(), "a group of events failed to commit");
                for waiter in waiters {
                    let _ = waiter.send(Err(commit_error(&e)));
                }
            }
        }
    }
}

fn commit_error(e: &storage::Error) -> Error {
    if e.kind == storage::ErrorKind::Conflict {
        Error::new(ErrorKind::BadJson, "This transaction id was already used")
    } else {
        Error::internal(e.to_string())
    }
}
