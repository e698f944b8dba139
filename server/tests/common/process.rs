//! The `rechain` binary as a separate process: started in a directory, waited for (bounded)
//! until it reports the address it listens on, and killed when the test ends.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_rechain");

/// Kills the child when the test ends, however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rechain serve` in `dir` and waits (bounded) for its "listening" line.
/// Returns the server and the address it reported, or the exit status and stderr if it stopped.
pub fn serve_in(dir: &std::path::Path, args: &[&str]) -> Result<(Server, String), (i32, String)> {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                    && json["fields"]["message"] == "listening"
                {
                    let addr = json["fields"]["client_addr"].as_str().unwrap().to_owned();
                    return Ok((Server(child), addr));
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => {
                if let Some(status) = child.try_wait().unwrap() {
                    // try_wait reaped it: nothing left to wait for.
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                    return Err((status.code().unwrap_or(-1), seen));
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("rechain serve did not report listening within 30 s:\n{seen}");
}

impl Server {
    /// SIGKILL, as a crash or the OOM killer would: no shutdown code runs.
    pub fn kill_hard(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
