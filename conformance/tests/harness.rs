//! `cargo test -p rechain-conformance`: every case as one libtest test, against a REChain
//! started in-process on 127.0.0.1:0 with a temporary SQLite database.
//!
//! After a full run (no filter) the Markdown report is compared with `docs/CONFORMANCE.md`;
//! a difference fails the run, so a regression or new coverage shows up as a diff.
//! `REC_UPDATE_CONFORMANCE=1` rewrites the file instead. The JSON and Markdown reports are also
//! written to `target/conformance/`.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex},
};

use libtest_mimic::{Arguments, Failed, Trial};
use rechain_conformance::{
    cases,
    client::Ctx,
    report,
    runner::{self, CaseReport, Outcome},
};
use rechain_server::config::{Config, RegistrationMode};

const TARGET: &str = "REChain (in-process, SQLite, open registration)";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let mut config = Config::default();
    config.data_dir = data_dir.path().to_path_buf();
    config.listen.client = "127.0.0.1:0".parse().expect("address");
    config.registration.mode = RegistrationMode::Open;
    config.rate_limits.enabled = false;
    // Small enough that the oversized-upload case can exceed it cheaply.
    config.media.max_upload_bytes = 1024 * 1024;
    config.sessions.login_tokens = true;
    config.registration.guest_access = true;
    let server = runtime
        .block_on(rechain_server::app::start(config))
        .expect("REChain starts");
    let ctx = Ctx::new(&format!("http://{}", server.client_addr), None).expect("client");

    let all = cases::all();
    let reports: Arc<Mutex<Vec<CaseReport>>> = Arc::default();
    let trials = all
        .iter()
        .map(|case| {
            let case = *case;
            let ctx = ctx.clone();
            let handle = runtime.handle().clone();
            let reports = reports.clone();
            Trial::test(
                format!("{}::{}", area_of(case.section), case.name),
                move || {
                    let report = handle.block_on(runner::run_case(&case, &ctx));
                    let outcome = report.outcome;
                    let message = report.message.clone().unwrap_or_default();
                    reports.lock().expect("poisoned").push(report);
                    match outcome {
                        Outcome::Pass => Ok(()),
                        Outcome::Skip => Err(Failed::from(format!(
                            "skipped against REChain, which should support every case: {message}"
                        ))),
                        Outcome::Fail => Err(Failed::from(message)),
                    }
                },
            )
        })
        .collect();
    let full_run = args.filter.is_none() && args.skip.is_empty() && !args.list;
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(server.shutdown());

    let mut reports = reports.lock().expect("poisoned").clone();
    let order = |name: &str| all.iter().position(|c| c.name == name);
    reports.sort_by_key(|r| order(r.name));
    if let Err(e) = write_reports(&reports, full_run) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// `client-server-api/#get_matrixclientversions` → `client_server_api`
fn area_of(section: &str) -> String {
    section
        .split('/')
        .next()
        .unwrap_or("spec")
        .replace('-', "_")
}

fn write_reports(reports: &[CaseReport], full_run: bool) -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("conformance");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let markdown = report::to_markdown(TARGET, reports);
    let json = serde_json::to_string_pretty(&report::to_json(TARGET, reports)).unwrap_or_default();
    std::fs::write(out_dir.join("report.md"), &markdown).map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join("report.json"), json).map_err(|e| e.to_string())?;
    if !full_run {
        return Ok(());
    }
    let committed_path = root.join("docs/CONFORMANCE.md");
    if std::env::var_os("REC_UPDATE_CONFORMANCE").is_some() {
        std::fs::write(&committed_path, &markdown).map_err(|e| e.to_string())?;
        eprintln!("rewrote {}", committed_path.display());
        return Ok(());
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != markdown {
        return Err(format!(
            "docs/CONFORMANCE.md differs from this run's report ({}). Review the change, then run \
             `REC_UPDATE_CONFORMANCE=1 cargo test -p rechain-conformance --test harness` and commit it.",
            out_dir.join("report.md").display()
        ));
    }
    Ok(())
}
