//! The `rechain` binary as a deployer meets it: defaults with no config, generated config,
//! one-line config errors.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    process::{Command, Stdio},
    time::Duration,
};

mod common;

use common::process::{BIN, serve_in};

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// The README's first command: no config file at all. It must create ./data with a signing key
/// and an SQLite database and answer on 127.0.0.1:8008. If that port is taken on this machine,
/// the server must say so in one line and exit non-zero instead.
#[test]
fn serve_without_config_uses_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    match serve_in(dir.path(), &[]) {
        Ok((server, addr)) => {
            assert_eq!(addr, "127.0.0.1:8008");
            let response = http_get(&addr, "/_matrix/client/versions").unwrap();
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(dir.path().join("data/signing.key").exists());
            assert!(dir.path().join("data/rechain.db").exists());
            drop(server);
        }
        Err((code, stderr)) => {
            assert_ne!(code, 0);
            assert!(
                stderr.contains("cannot listen on 127.0.0.1:8008"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn signing_key_is_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[listen]\nclient = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let (first, _) = serve_in(dir.path(), &["--config", "c.toml"]).unwrap();
    drop(first);
    let key = std::fs::read_to_string(dir.path().join("data/signing.key")).unwrap();
    let (second, addr) = serve_in(dir.path(), &["--config", "c.toml"]).unwrap();
    assert!(
        http_get(&addr, "/health")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    drop(second);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/signing.key")).unwrap(),
        key
    );
}

#[test]
fn bad_config_value_is_one_line_naming_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[registration]\nmode = \"sometimes\"\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config", "bad.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("registration.mode"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "a bad config must not start anything"
    );
}

#[test]
fn missing_config_file_is_an_error_not_a_default() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config", "nowhere.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere.toml"));
}

#[test]
fn generated_config_is_accepted_by_serve_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN).arg("generate-config").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("server_name = \"localhost\""));
    for key in [
        "[listen]",
        "[tls]",
        "[federation]",
        "[database]",
        "[redis]",
        "[registration]",
        "[rate_limits]",
        "[appservices]",
    ] {
        assert!(text.contains(key), "generated config lacks {key}");
    }
    std::fs::write(dir.path().join("rechain.toml"), &text).unwrap();
    let migrate = Command::new(BIN)
        .args(["migrate", "--config", "rechain.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(dir.path().join("data/rechain.db").exists());
}

/// `rechain state resolve` on every committed input, in both modes (the files carry their
/// expected result; see `state_res_scenarios.rs`).
#[test]
fn state_resolve_handles_every_generated_fixture() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/state_res/generated");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} inputs", files.len());
    for path in files {
        let output = Command::new(BIN)
            .args(["state", "resolve"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let input: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let ids: Vec<&str> = result["state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        let full = |short: &serde_json::Value| format!("${}:example.com", short.as_str().unwrap());
        for id in input["expected"]["present"].as_array().unwrap() {
            assert!(
                ids.contains(&full(id).as_str()),
                "{}: {} missing from {ids:?}",
                path.display(),
                full(id)
            );
        }
        for id in input["expected"]["absent"].as_array().unwrap() {
            assert!(
                !ids.contains(&full(id).as_str()),
                "{}: {} present",
                path.display(),
                full(id)
            );
        }
        let sorted: Vec<(String, String)> = result["state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["state_key"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected_order = sorted.clone();
        expected_order.sort();
        assert_eq!(
            sorted, expected_order,
            "state is sorted by type then state key"
        );
    }
}

#[test]
fn state_resolve_reads_stdin_and_reports_bad_input_in_one_line() {
    let mut child = Command::new(BIN)
        .args(["state", "resolve", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"room_version": "11", "events": [], "state_sets": []}"#)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["state"], serde_json::json!([]));

    for bad in [
        r#"{"room_version": "99", "events": [], "dag": true}"#,
        r#"{"room_version": "11", "events": [{"type": "x"}], "dag": true}"#,
        r#"{"room_version": "11", "events": [], "state_sets": [["$missing"]]}"#,
        r#"{"room_version": "11", "events": []}"#,
        "not json",
    ] {
        let mut child = Command::new(BIN)
            .args(["state", "resolve", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bad.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "{bad}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).lines().count(),
            1,
            "{bad}"
        );
    }
}

/// The example in docs/STATE_RESOLVE.md says what it prints; keep it true.
#[test]
fn state_resolve_documented_example_holds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    for file in ["state_resolve_topics.json", "state_resolve_topics_dag.json"] {
        let output = Command::new(BIN)
            .args(["state", "resolve"])
            .arg(root.join(file))
            .output()
            .unwrap();
        assert!(output.status.success());
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let topic = result["state"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "m.room.topic")
            .unwrap();
        assert_eq!(topic["event_id"], "$topic_two", "{file}");
        assert_eq!(result["rejected"], serde_json::json!([]));
    }
}

/// `rechain user create` makes an account that can log in, whatever the registration mode,
/// and refuses a taken or invalid name.
#[test]
fn user_create_makes_an_account_that_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[listen]\nclient = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let create = |name: &str| {
        let mut child = Command::new(BIN)
            .args([
                "user",
                "create",
                name,
                "--password-stdin",
                "--config",
                "c.toml",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hunter22\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let output = create("carol");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "@carol:localhost"
    );
    let again = create("carol");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(!create("Not Valid").status.success());

    // Registration is disabled by default; the account still logs in.
    let (server, addr) = serve_in(dir.path(), &["--config", "c.toml"]).unwrap();
    let body = r#"{"type":"m.login.password","identifier":{"type":"m.id.user","user":"carol"},"password":"hunter22"}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("@carol:localhost"));
    drop(server);
}
