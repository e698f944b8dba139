//! Operations endpoints: `/health`, `/ready`, `/metrics`, and the request metrics themselves.

use std::{sync::OnceLock, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use super::{AppState, router::Router};
use crate::service::{Error, health::Check};

const REQUESTS: &str = "rechain_http_requests_total";
const DURATION: &str = "rechain_http_request_duration_seconds";

pub fn register(router: &mut Router) {
    router.raw(Method::GET, "/health", |_, _| async {
        Ok(json_response(StatusCode::OK, json!({"status": "ok"})))
    });
    router.raw(Method::GET, "/ready", |state, _| ready(state));
    router.raw(Method::GET, "/metrics", |state, _| metrics(state));
}

/// The Prometheus recorder is process-wide (the `metrics` facade has one global recorder);
/// several servers in one test process share it, which only merges their counts.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &buckets)
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); then ours only
        // renders what it records itself, which is nothing, and that is reported.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a global metrics recorder was already installed; /metrics will be empty"
            );
        }
        handle
    })
}

pub fn record_request(endpoint: &'static str, method: &str, status: u16, elapsed: Duration) {
    let method = method.to_owned();
    metrics::counter!(REQUESTS, "endpoint" => endpoint, "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(DURATION, "endpoint" => endpoint, "method" => method)
        .record(elapsed.as_secs_f64());
}

async fn ready(state: AppState) -> Result<http::Response<Bytes>, Error> {
    let readiness = state.services.health.readiness().await;
    let describe = |check: &Check| match check {
        Check::Ok => "ok".to_owned(),
        Check::NotConfigured => "not configured".to_owned(),
        Check::Failed(reason) => format!("failed: {reason}"),
    };
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(
        status,
        json!({
            "ready": readiness.is_ready(),
            "database": describe(&readiness.database),
            "redis": describe(&readiness.redis),
        }),
    ))
}

async fn metrics(state: AppState) -> Result<http::Response<Bytes>, Error> {
    let database = state.services.health.database();
    let pool = database.pool_state();
    let backend = database.backend_name();
    metrics::gauge!("rechain_db_pool_connections", "backend" => backend)
        .set(f64::from(pool.connections));
    metrics::gauge!("rechain_db_pool_idle_connections", "backend" => backend)
        .set(f64::from(pool.idle));
    metrics::gauge!("rechain_db_pool_max_connections", "backend" => backend)
        .set(f64::from(pool.max_size));
    if let Some(memory) = process_memory() {
        metrics::gauge!("rechain_process_resident_memory_bytes").set(memory.resident as f64);
        metrics::gauge!("rechain_process_peak_resident_memory_bytes")
            .set(memory.peak_resident as f64);
    }
    let body = metrics_handle().render();
    let mut response = http::Response::new(Bytes::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

struct ProcessMemory {
    resident: u64,
    peak_resident: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status` (Linux only; elsewhere the gauges are
/// simply absent).
fn process_memory() -> Option<ProcessMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
    };
    Some(ProcessMemory {
        resident: field("VmRSS:")?,
        peak_resident: field("VmHWM:")?,
    })
}

fn json_response(status: StatusCode, body: serde_json::Value) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
