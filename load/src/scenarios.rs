//! The measured scenarios. Each returns a JSON object of its numbers; [`measure`] adds what
//! the server and this tool spent while it ran.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use futures_util::{StreamExt as _, stream};
use serde_json::{Value, json};

use crate::{
    client::{Client, User},
    procstat,
    stats::{latency_summary, ms, rate},
};

/// Runs `scenario`, adding to its numbers the server's CPU time and peak resident memory
/// while it ran (when its pid is known) and this tool's own CPU time, so a result the tool
/// itself limited can be told apart.
pub async fn measure<F>(server_pid: Option<&str>, ops: usize, scenario: F) -> Result<Value>
where
    F: Future<Output = Result<Value>>,
{
    let own_pid = std::process::id().to_string();
    let own_before = procstat::cpu_time(&own_pid);
    let server_before = server_pid.and_then(procstat::cpu_time);
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = server_pid.map(|pid| {
        let (pid, peak, done) = (pid.to_owned(), peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some((rss, _)) = procstat::memory_kib(&pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let mut numbers = scenario.await?;
    done.store(true, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    let spent = |before: Option<Duration>, pid: &str| {
        Some(procstat::cpu_time(pid)?.saturating_sub(before?))
    };
    if let Some(cpu) = server_pid.and_then(|pid| spent(server_before, pid)) {
        numbers["server_cpu_s"] = json!(cpu.as_secs_f64());
        if ops > 0 {
            numbers["server_cpu_ms_per_op"] = json!(ms(cpu) / ops as f64);
        }
        numbers["server_peak_rss_kib"] = json!(peak.load(Ordering::Relaxed));
    }
    if let Some(cpu) = spent(own_before, &own_pid) {
        numbers["load_tool_cpu_s"] = json!(cpu.as_secs_f64());
    }
    Ok(numbers)
}

/// Registers `count` users, `concurrency` at a time.
pub async fn register_users(
    client: &Client,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Result<(Vec<User>, Value)> {
    let started = Instant::now();
    let users: Vec<User> = stream::iter(0..count)
        .map(|i| async move { client.register(&format!("{prefix}{i}")).await })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let elapsed = started.elapsed();
    let numbers = json!({ "count": count, "per_second": rate(count, elapsed) });
    Ok((users, numbers))
}

/// Every one of `users` joins `room`, `concurrency` at a time.
pub async fn join_all(
    client: &Client,
    users: &[User],
    room: &str,
    concurrency: usize,
) -> Result<Value> {
    let started = Instant::now();
    stream::iter(users)
        .map(|user| client.join(user, room))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({ "count": users.len(), "per_second": rate(users.len(), started.elapsed()) }))
}

/// `total` messages from `senders` sending at once, each one message at a time.
pub async fn send_messages(
    client: &Client,
    senders: &[User],
    room: &str,
    total: usize,
) -> Result<Value> {
    let per_sender = total.div_ceil(senders.len().max(1));
    let started = Instant::now();
    let runs = senders.iter().enumerate().map(|(s, sender)| async move {
        let mut latencies = Vec::with_capacity(per_sender);
        for i in 0..per_sender {
            let sent = Instant::now();
            client
                .send(
                    sender,
                    room,
                    &format!("load{s}x{i}x{}", rand::random::<u32>()),
                    "load",
                )
                .await?;
            latencies.push(sent.elapsed());
        }
        Ok::<_, anyhow::Error>(latencies)
    });
    let mut latencies = Vec::new();
    for run in futures_util::future::join_all(runs).await {
        latencies.extend(run?);
    }
    let elapsed = started.elapsed();
    Ok(json!({
        "count": latencies.len(),
        "senders": senders.len(),
        "per_second": rate(latencies.len(), elapsed),
        "send_latency": latency_summary(&mut latencies),
    }))
}

/// From the start of `sender`'s send until `receiver`'s waiting long-poll `/sync` returns the
/// event, `samples` times, one message at a time.
pub async fn delivery_latency(
    client: &Client,
    sender: &User,
    receiver: &User,
    room: &str,
    samples: usize,
) -> Result<Value> {
    let mut since = client.sync(receiver, None, 0, None).await?["next_batch"]
        .as_str()
        .context("no next_batch")?
        .to_owned();
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let waiting = {
            let (client, receiver, since) = (client.clone(), receiver.clone(), since.clone());
            tokio::spawn(async move { client.sync(&receiver, Some(&since), 30_000, None).await })
        };
        // Let the long-poll reach the server before the clock starts.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let started = Instant::now();
        let event_id = client
            .send(
                sender,
                room,
                &format!("delivery{i}x{}", rand::random::<u32>()),
                "ping",
            )
            .await?;
        let mut response = waiting.await??;
        // Bounded: other activity may end a long-poll before the event arrives.
        for _ in 0..20 {
            let arrived = response["rooms"]["join"][room]["timeline"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["event_id"] == event_id.as_str()));
            since = response["next_batch"].as_str().unwrap_or(&since).to_owned();
            if arrived {
                break;
            }
            response = client.sync(receiver, Some(&since), 30_000, None).await?;
        }
        latencies.push(started.elapsed());
    }
    Ok(json!({ "delivery_latency": latency_summary(&mut latencies) }))
}

/// A first sync from a device that has never synced (a fresh login each time, so no cache
/// of an earlier response can answer), `repeats` times.
pub async fn initial_sync(client: &Client, user: &User, repeats: usize) -> Result<Value> {
    let mut durations = Vec::with_capacity(repeats);
    let mut bytes = 0;
    for _ in 0..repeats {
        let device = client.login(user).await?;
        let started = Instant::now();
        let response = client.sync(&device, None, 0, None).await?;
        durations.push(started.elapsed());
        bytes = response.to_string().len();
    }
    Ok(json!({ "initial_sync": latency_summary(&mut durations), "response_bytes": bytes }))
}

/// A user new to `room` joins it and makes a first sync, with or without lazy-loaded members.
pub async fn newcomer(client: &Client, user: &User, room: &str, lazy: bool) -> Result<Value> {
    let started = Instant::now();
    client.join(user, room).await?;
    let joined = started.elapsed();
    let filter = lazy.then(|| json!({"room": {"state": {"lazy_load_members": true}}}));
    let started = Instant::now();
    let response = client.sync(user, None, 0, filter.as_ref()).await?;
    let synced = started.elapsed();
    let state = response["rooms"]["join"][room]["state"]["events"]
        .as_array()
        .map_or(0, Vec::len);
    Ok(json!({
        "lazy_load_members": lazy,
        "join_ms": ms(joined),
        "first_sync_ms": ms(synced),
        "join_plus_first_sync_ms": ms(joined + synced),
        "state_events_in_first_sync": state,
    }))
}

/// Pages backwards through `room` from its newest event, `pages` pages of `limit` events,
/// each page timed on its own.
pub async fn paginate(
    client: &Client,
    user: &User,
    room: &str,
    pages: usize,
    limit: usize,
) -> Result<Value> {
    let mut durations = Vec::with_capacity(pages);
    let mut from: Option<String> = None;
    let mut events = 0;
    for _ in 0..pages {
        let started = Instant::now();
        let page = client.messages(user, room, from.as_deref(), limit).await?;
        durations.push(started.elapsed());
        events += page["chunk"].as_array().map_or(0, Vec::len);
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    Ok(json!({ "page": latency_summary(&mut durations), "page_size": limit, "events": events }))
}
