use async_trait::async_trait;

use super::Error;

/// Connection-pool figures for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max_size: u32,
}

/// Liveness of the database itself, for `/ready` and `/metrics`.
#[async_trait]
pub trait DatabaseHealth: Send + Sync {
    /// Runs a trivial query through the pool.
    async fn ping(&self) -> Result<(), Error>;
    fn pool_state(&self) -> PoolState;
    /// `"sqlite"` or `"postgres"`.
    fn backend_name(&self) -> &'static str;
}
