//! Readiness: can this process serve requests right now?

use std::{sync::Arc, time::Duration};

use crate::{cache::RedisCache, storage::DatabaseHealth};

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    NotConfigured,
    Failed(String),
}

impl Check {
    pub fn is_ok(&self) -> bool {
        !matches!(self, Check::Failed(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database: Check,
    pub redis: Check,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.redis.is_ok()
    }
}

pub struct HealthService {
    database: Arc<dyn DatabaseHealth>,
    redis: Option<RedisCache>,
}

impl HealthService {
    pub fn new(database: Arc<dyn DatabaseHealth>, redis: Option<RedisCache>) -> Self {
        Self { database, redis }
    }

    pub async fn readiness(&self) -> Readiness {
        // A load balancer polls this: answer within a bound even when the pool is waiting
        // for a database that has gone away.
        const LIMIT: Duration = Duration::from_secs(3);
        let database = match tokio::time::timeout(LIMIT, self.database.ping()).await {
            Ok(Ok(())) => Check::Ok,
            Ok(Err(e)) => Check::Failed(e.message),
            Err(_) => Check::Failed(format!("no answer within {LIMIT:?}")),
        };
        let redis = match &self.redis {
            None => Check::NotConfigured,
            Some(redis) => match redis.ping().await {
                Ok(()) => Check::Ok,
                Err(e) => Check::Failed(e.to_string()),
            },
        };
        Readiness { database, redis }
    }

    pub fn database(&self) -> &dyn DatabaseHealth {
        &*self.database
    }
}
