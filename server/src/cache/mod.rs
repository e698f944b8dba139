//! Redis: cache and cross-process notifications. Invariant: never the source of truth; anything
//! read here can be rebuilt from the database.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Clone)]
pub struct RedisCache {
    client: redis::Client,
}

impl RedisCache {
    /// Parses the URL; no connection is made until first use.
    pub fn new(url: &str) -> Result<Self, CacheError> {
        Ok(Self {
            client: redis::Client::open(url)?,
        })
    }

    /// Connects and sends `PING`, within two seconds.
    pub async fn ping(&self) -> Result<(), CacheError> {
        const LIMIT: Duration = Duration::from_secs(2);
        let attempt = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok::<_, CacheError>(())
        };
        tokio::time::timeout(LIMIT, attempt)
            .await
            .map_err(|_| CacheError::Timeout(LIMIT))?
    }
}
