//! Nothing acknowledged is lost: senders load a room while the server process is killed with
//! SIGKILL; after a restart on the same data every event whose send was answered 200 is in
//! `/messages`, a retried transaction gets its original event id back, and sync tokens handed
//! out before the crash still work. Runs on SQLite always and on PostgreSQL when
//! `REC_TEST_POSTGRES_URL` is set (in a database of its own, dropped afterwards).

mod common;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    http::{raw, try_raw},
    process::serve_in,
};
use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use serde_json::{Value, json};

const SENDERS: usize = 4;
/// Acknowledged sends to wait for before the kill: enough that senders are mid-flight.
const ACKED_BEFORE_KILL: usize = 120;
/// Each sender stops by itself after this many sends, so a server that never dies cannot
/// keep the test running.
const MAX_SENDS_PER_SENDER: usize = 3000;

fn request_text(method: &str, path: &str, token: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn request(addr: SocketAddr, method: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let (status, _, body) = raw(addr, request_text(method, path, token, body).as_bytes());
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Like [`request`], but a refused or cut connection is a status of 0: that is what senders
/// see when the server dies under them.
fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    match try_raw(addr, request_text(method, path, token, body).as_bytes()) {
        Some((status, _, body)) => (status, serde_json::from_str(&body).unwrap_or(Value::Null)),
        None => (0, Value::Null),
    }
}

fn register(addr: SocketAddr, name: &str) -> String {
    let path = "/_matrix/client/v3/register";
    let (status, challenge) = request(addr, "POST", path, "", &json!({}));
    assert_eq!(status, 401, "{challenge}");
    let body = json!({"username": name, "password": "a long password",
                      "auth": {"type": "m.login.dummy", "session": challenge["session"]}});
    let (status, session) = request(addr, "POST", path, "", &body);
    assert_eq!(status, 200, "{session}");
    session["access_token"].as_str().unwrap().to_owned()
}

fn sync_token(addr: SocketAddr, token: &str, since: Option<&str>) -> (u16, Value) {
    let path = match since {
        Some(since) => format!("/_matrix/client/v3/sync?timeout=0&since={since}"),
        None => "/_matrix/client/v3/sync?timeout=0".to_owned(),
    };
    request(addr, "GET", &path, token, &Value::Null)
}

/// Every event id in the room, paginating `/messages` backwards from the end.
fn all_event_ids(addr: SocketAddr, token: &str, room: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut from: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=500");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let (status, page) = request(addr, "GET", &path, token, &Value::Null);
        assert_eq!(status, 200, "{page}");
        for event in page["chunk"].as_array().into_iter().flatten() {
            ids.insert(event["event_id"].as_str().unwrap_or_default().to_owned());
        }
        match page["end"].as_str() {
            Some(end) if page["chunk"].as_array().is_some_and(|c| !c.is_empty()) => {
                from = Some(end.to_owned())
            }
            _ => return ids,
        }
    }
    panic!("/messages did not reach the start of the room");
}

fn config(dir: &std::path::Path, database_url: Option<&str>) {
    let mut text = format!(
        "data_dir = \"{}\"\n[listen]\nclient = \"127.0.0.1:0\"\n[registration]\nmode = \"open\"\n[rate_limits]\nenabled = false\n",
        dir.join("data").display()
    );
    if let Some(url) = database_url {
        text.push_str(&format!("[database]\nurl = \"{url}\"\n"));
    }
    std::fs::write(dir.join("rechain.toml"), text).unwrap();
}

fn acknowledged_sends_survive_sigkill_on(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), database_url);
    let args = ["--config", "rechain.toml"];
    let (server, addr) = serve_in(dir.path(), &args).unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    let token = register(addr, "crashtester");
    let (status, created) = request(
        addr,
        "POST",
        "/_matrix/client/v3/createRoom",
        &token,
        &json!({"preset": "private_chat"}),
    );
    assert_eq!(status, 200, "{created}");
    let room = created["room_id"].as_str().unwrap().to_owned();
    let (_, first) = sync_token(addr, &token, None);
    let before_load = first["next_batch"].as_str().unwrap().to_owned();

    // (txn id, event id) of every send answered 200.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (acked, stop, token, room) =
                (acked.clone(), stop.clone(), token.clone(), room.clone());
            std::thread::spawn(move || {
                for i in 0..MAX_SENDS_PER_SENDER {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let txn = format!("s{sender}t{i}");
                    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}");
                    let body = json!({"msgtype": "m.text", "body": format!("{sender}/{i}")});
                    match try_request(addr, "PUT", &path, &token, &body) {
                        (200, response) => acked
                            .lock()
                            .unwrap()
                            .push((txn, response["event_id"].as_str().unwrap().to_owned())),
                        // Connection refused or cut: the server is gone.
                        (0, _) => return,
                        (status, response) => panic!("send answered {status}: {response}"),
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut mid_load = None;
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "senders too slow to load the server"
        );
        if mid_load.is_none() && acked.lock().unwrap().len() >= ACKED_BEFORE_KILL / 2 {
            let (_, synced) = sync_token(addr, &token, Some(&before_load));
            mid_load = synced["next_batch"].as_str().map(str::to_owned);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill_hard();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    let (_server, addr) = serve_in(dir.path(), &args).unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    let stored = all_event_ids(addr, &token, &room);
    eprintln!(
        "{}: {} sends acknowledged before SIGKILL, {} events in the room after restart",
        if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        acked.len(),
        stored.len()
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|(_, event_id)| !stored.contains(event_id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );

    // A client that never saw the answer retries its transaction: the same event, not a copy.
    let (txn, event_id) = &acked[acked.len() / 2];
    let (status, retried) = request(
        addr,
        "PUT",
        &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"),
        &token,
        &json!({"msgtype": "m.text", "body": "retry"}),
    );
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        retried["event_id"],
        json!(event_id),
        "a retried transaction after the crash"
    );

    for (name, since) in [
        ("before the load", Some(before_load)),
        ("mid-load", mid_load),
    ] {
        let since = since.unwrap_or_else(|| panic!("no sync token taken {name}"));
        let (status, synced) = sync_token(addr, &token, Some(&since));
        assert_eq!(
            status, 200,
            "a sync token from {name} after the restart: {synced}"
        );
        let timeline = &synced["rooms"]["join"][room.as_str()]["timeline"]["events"];
        assert!(
            timeline.as_array().is_some_and(|events| !events.is_empty()),
            "syncing from {name} shows the room's new events: {synced}"
        );
    }
}

/// A database of its own on the server `REC_TEST_POSTGRES_URL` names, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> Self {
        let name = format!("rechain_crash_{}_{:08x}", std::process::id(), rand_suffix());
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("REC_TEST_POSTGRES_URL={admin_url} is unreachable: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let mut url = format!("{prefix}/{name}");
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

#[test]
fn acknowledged_sends_survive_sigkill() {
    acknowledged_sends_survive_sigkill_on(None);
    if let Some(admin_url) = std::env::var("REC_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let database = PgDatabase::create(&admin_url);
        acknowledged_sends_survive_sigkill_on(Some(&database.url));
    }
}
