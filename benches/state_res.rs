//! State resolution of a large room (10,000 joined members, 50 and 500 conflicted events) and
//! auth checks in it, beside ruma's state-res on the same input in the same run.

use std::{hint::black_box, time::Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use rechain_benches::{LargeRoom, to_state_ids};
use rechain_server::core::{
    auth::{self, StateMap},
    event::Pdu,
    room_version::RoomVersion,
    state_res,
};

const MEMBERS: usize = 10_000;

fn resolve_large_room(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_res/10k_members");
    group.sample_size(10);
    for version in [RoomVersion::V11, RoomVersion::V12] {
        for conflicts in [50, 500] {
            let room = LargeRoom::build(version, MEMBERS, conflicts);
            let label = format!("v{}/{conflicts}_conflicted", version.id);
            let ours = state_res::resolve(&version, &room.state_sets, &room.events).unwrap();

            let oracle = room.ruma_oracle();
            assert_eq!(
                ours,
                to_state_ids(oracle.resolve()),
                "both sides resolve the same room alike"
            );

            group.bench_function(BenchmarkId::new("rechain", &label), |b| {
                b.iter(|| state_res::resolve(&version, &room.state_sets, &room.events).unwrap())
            });
            group.bench_function(BenchmarkId::new("ruma", &label), |b| {
                b.iter(|| oracle.resolve())
            });
        }
    }
    group.finish();
}

fn auth_checks(c: &mut Criterion) {
    let version = RoomVersion::V11;
    let room = LargeRoom::build(version, MEMBERS, 0);
    let state: Vec<&Pdu> = room.state_sets[0]
        .values()
        .map(|id| &room.events[id])
        .collect();
    let map = StateMap::from_events(state.iter().copied());
    let message = Pdu::from_trusted_json(
        serde_json::json!({"event_id": "$m:example.org", "room_id": "!room:example.org", "type": "m.room.message",
                           "sender": "@user5:example.org", "content": {"body": "hi"}, "prev_events": []}),
        &version,
    )
    .unwrap();
    let join = Pdu::from_trusted_json(
        serde_json::json!({"event_id": "$j:example.org", "room_id": "!room:example.org", "type": "m.room.member",
                           "state_key": "@newcomer:example.org", "sender": "@newcomer:example.org",
                           "content": {"membership": "join"}, "prev_events": []}),
        &version,
    )
    .unwrap();
    let signed_by = |_: &Pdu, _: &str| true;
    let mut group = c.benchmark_group("auth/10k_members");
    group.bench_function("message", |b| {
        b.iter(|| auth::check(&version, &message, &map, &signed_by).unwrap())
    });
    group.bench_function("join", |b| {
        b.iter(|| auth::check(&version, &join, &map, &signed_by).unwrap())
    });
    group.finish();
}

/// The same cases timed in alternation, ours then ruma's then ruma's then ours, and the
/// medians compared. The machine is shared and its speed drifts over the seconds criterion
/// spends on one side before the other; alternating exposes both sides to the same drift, so
/// this ratio is the one `docs/PERFORMANCE.md` reports.
fn paired_ratios() {
    const ROUNDS: usize = 41;
    println!("\npaired (median of {ROUNDS} alternating rounds):");
    for version in [RoomVersion::V11, RoomVersion::V12] {
        for conflicts in [50, 500] {
            let room = LargeRoom::build(version, MEMBERS, conflicts);
            let oracle = room.ruma_oracle();
            let ours = || {
                let start = Instant::now();
                black_box(state_res::resolve(&version, &room.state_sets, &room.events).unwrap());
                start.elapsed()
            };
            let theirs = || {
                let start = Instant::now();
                black_box(oracle.resolve());
                start.elapsed()
            };
            for _ in 0..3 {
                ours();
                theirs();
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                if round % 2 == 0 {
                    a.push(ours());
                    b.push(theirs());
                } else {
                    b.push(theirs());
                    a.push(ours());
                }
            }
            a.sort_unstable();
            b.sort_unstable();
            let (a, b) = (a[ROUNDS / 2], b[ROUNDS / 2]);
            println!(
                "  v{}/{conflicts}_conflicted: rechain {:.2} ms, ruma {:.2} ms, ratio {:.2}x",
                version.id,
                a.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
    }
}

criterion_group!(benches, resolve_large_room, auth_checks);

fn main() {
    benches();
    paired_ratios();
    Criterion::default().configure_from_args().final_summary();
}
