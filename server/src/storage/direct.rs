//! Direct storage: running a request's queries on the thread that asks them.
//!
//! A store call normally hands its query to a blocking-pool thread and waits to be woken with
//! the answer: two thread switches per query. A sync response asks some twenty small questions
//! in turn, and on this path the switches cost more than the queries. `with_direct_storage`
//! runs a whole piece of work on one blocking-pool thread instead, where each store call runs
//! its query in place.

use std::{cell::Cell, future::Future, sync::LazyLock};

use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::{Error, ErrorKind};

thread_local! {
    static DIRECT: Cell<bool> = const { Cell::new(false) };
}

/// Work running with direct storage at once. Each holds a blocking-pool thread for its whole
/// run and may wait on something that needs another one (a write queued behind a commit whose
/// query runs on the pool), so most of the pool must stay free of it.
pub const DIRECT_SLOTS: usize = 8;

static SLOTS_FREE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(DIRECT_SLOTS));

/// Runs `work` on a blocking-pool thread whose store calls run their queries in place.
pub async fn with_direct_storage<F>(work: F) -> Result<F::Output, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let _slot = SLOTS_FREE
        .acquire()
        .await
        .map_err(|_| Error::new(ErrorKind::Internal, "direct storage slots closed"))?;
    let runtime = tokio::runtime::Handle::current();
    // The request's span goes with the work, so what it logs still names the request.
    let work = work.instrument(tracing::Span::current());
    tokio::task::spawn_blocking(move || {
        let _direct = Direct::enter();
        runtime.block_on(work)
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Internal, format!("storage task failed: {e}")))
}

/// Whether store calls on this thread run their queries in place.
pub fn is_direct() -> bool {
    DIRECT.with(Cell::get)
}

/// Marks the thread direct while alive; a panic in the work unmarks it too.
struct Direct;

impl Direct {
    fn enter() -> Self {
        DIRECT.with(|d| d.set(true));
        Direct
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        DIRECT.with(|d| d.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in the work is an internal error for its caller, not a panic of the caller's
    /// task, and it gives its slot back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_work_is_an_internal_error_and_frees_its_slot() {
        // More panics than slots: a slot kept by a panicked work would make one wait forever.
        let panics = async {
            for _ in 0..DIRECT_SLOTS + 1 {
                let failed: Error = with_direct_storage(async { panic!("the work fails") })
                    .await
                    .unwrap_err();
                assert_eq!(failed.kind, ErrorKind::Internal);
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), panics)
            .await
            .expect("every slot came back");
        assert!(with_direct_storage(async { is_direct() }).await.unwrap());
        assert!(!is_direct());
    }
}
