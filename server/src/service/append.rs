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
//! Events that are built but not committed live in an overlay that the next build reads on
//! top of the database: the head, the auth events and the member list. **Invariant:** the
//! overlay is read before the database, so anything that left it (because it was committed)
//! is seen in the database read that follows. If a group fails to commit, every event built
//! on it fails too: the overlay is cleared, the queue is failed, and a build that began
//! before the failure (it carries an older generation) is refused when it tries to queue.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use super::{Error, ErrorKind, notifier::Notifier};
use crate::{
    core::{event::Pdu, room_version::RoomVersion},
    storage::{self, Append, NewEvent, RoomHead, Stores, TxnKey},
};

pub(super) struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    notifier: Arc<Notifier>,
    staged: Mutex<Staged>,
    commit_lock: tokio::sync::Mutex<()>,
}

/// Built events not yet committed, and the queue they wait in.
#[derive(Default)]
struct Staged {
    /// Bumped when a group fails: builds from before it must not queue.
    generation: u64,
    queue: Vec<Queued>,
    /// The queued events by id, for builds that cite them as auth events.
    events: HashMap<String, Pdu>,
    rooms: HashMap<String, RoomOverlay>,
    txns: HashSet<TxnKey>,
}

/// What a room's uncommitted events change of its head.
#[derive(Clone, Default)]
struct RoomOverlay {
    extremities: Vec<(String, i64)>,
    /// (type, state_key) → (event id, membership of a member event).
    state: HashMap<(String, String), (String, Option<String>)>,
    /// The last event built in the room: once it commits, the overlay says nothing new.
    last: String,
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
    pub fn new(stores: Stores, notifier: Arc<Notifier>) -> Self {
        Self {
            inner: Arc::new(Inner {
                stores,
                notifier,
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

    /// The room's head with the events built but not yet committed.
    pub async fn head(&self, room_id: &str) -> Result<RoomHead, Error> {
        let overlay = self.staged().rooms.get(room_id).cloned();
        let mut head = self.inner.stores.rooms.room_head(room_id).await?;
        if let Some(overlay) = overlay {
            head.extremities = overlay.extremities;
            let mut state: HashMap<(String, String), String> = head
                .state
                .into_iter()
                .map(|(t, k, id)| ((t, k), id))
                .collect();
            for (key, (id, _)) in overlay.state {
                state.insert(key, id);
            }
            head.state = state.into_iter().map(|((t, k), id)| (t, k, id)).collect();
        }
        Ok(head)
    }

    /// An event by id, built or committed, parsed for `version`.
    pub async fn event(&self, event_id: &str, version: &RoomVersion) -> Result<Option<Pdu>, Error> {
        if let Some(pdu) = self.staged().events.get(event_id) {
            return Ok(Some(pdu.clone()));
        }
        let Some(stored) = self.inner.stores.rooms.get_event(event_id).await? else {
            return Ok(None);
        };
        Pdu::from_json_with_known_id(stored.json, stored.event_id, version)
            .map(Some)
            .map_err(|e| Error::internal(format!("stored event {event_id}: {e}")))
    }

    /// The room's joined members with their member event ids, built events included.
    pub async fn joined_members(&self, room_id: &str) -> Result<Vec<(String, String)>, Error> {
        let overlay = self.staged().rooms.get(room_id).cloned();
        let mut members: HashMap<String, (String, String)> = self
            .inner
            .stores
            .rooms
            .room_members(room_id)
            .await?
            .into_iter()
            .map(|(user, membership, id)| (user, (membership, id)))
            .collect();
        for ((event_type, user), (id, membership)) in overlay.map(|o| o.state).unwrap_or_default() {
            if event_type == "m.room.member" {
                members.insert(user, (membership.unwrap_or_default(), id));
            }
        }
        Ok(members
            .into_iter()
            .filter(|(_, (membership, _))| membership == "join")
            .map(|(user, (_, id))| (user, id))
            .collect())
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
        let (done, waiting) = oneshot::channel();
        let overlay = staged.rooms.entry(event.room_id.clone()).or_default();
        overlay.extremities = vec![(pdu.event_id.clone(), pdu.depth)];
        overlay.last = pdu.event_id.clone();
        if let Some(state_key) = &pdu.state_key {
            overlay.state.insert(
                (pdu.event_type.clone(), state_key.clone()),
                (pdu.event_id.clone(), event.membership.clone()),
            );
        }
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
        let ids: Vec<(String, String)> = appends
            .iter()
            .map(|a| (a.event.room_id.clone(), a.event.event_id.clone()))
            .collect();
        let txns: Vec<TxnKey> = appends.iter().filter_map(|a| a.txn.clone()).collect();
        let result = self.stores.rooms.append_events(appends).await;
        let result = {
            let mut staged = self.staged();
            match result {
                Ok(_) => {
                    for (room_id, event_id) in &ids {
                        staged.events.remove(event_id);
                        if staged
                            .rooms
                            .get(room_id)
                            .is_some_and(|o| &o.last == event_id)
                        {
                            staged.rooms.remove(room_id);
                        }
                    }
                    for txn in &txns {
                        staged.txns.remove(txn);
                    }
                    Ok(())
                }
                Err(e) => {
                    // Everything built since was built on this group: none of it can stand.
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
