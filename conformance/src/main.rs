//! `rechain-conformance --homeserver URL`: runs the suite against any homeserver.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use rechain_conformance::{cases, client::Ctx, report, runner};

#[derive(Parser)]
#[command(
    name = "rechain-conformance",
    version,
    about = "Matrix conformance suite"
)]
struct Cli {
    /// Base URL of the homeserver's client API, e.g. http://127.0.0.1:8008
    #[arg(long)]
    homeserver: String,
    /// Run only cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Write the JSON result here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write the Markdown matrix here.
    #[arg(long)]
    report_md: Option<PathBuf>,
    /// Registration token, for servers whose registration needs one.
    #[arg(long, env = "REC_REGISTRATION_TOKEN")]
    registration_token: Option<String>,
    /// Cases run at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rechain-conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let ctx = match Ctx::new(&cli.homeserver, cli.registration_token.clone()) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("rechain-conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cases = runner::filter_cases(cases::all(), cli.filter.as_deref());
    let reports = runner::run_all(&cases, &ctx, cli.concurrency).await;
    for r in &reports {
        let tag = match r.outcome {
            runner::Outcome::Pass => "PASS",
            runner::Outcome::Fail => "FAIL",
            runner::Outcome::Skip => "SKIP",
        };
        match &r.message {
            Some(m) => println!("{tag} {} ({}): {m}", r.name, r.section),
            None => println!("{tag} {} ({})", r.name, r.section),
        }
        if let Some(d) = &r.known_deviation {
            println!("     known deviation, {d}");
        }
    }
    let target = format!("`{}`", cli.homeserver);
    if let Some(path) = &cli.report_json {
        let json = report::to_json(&cli.homeserver, &reports);
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("rechain-conformance: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &cli.report_md
        && let Err(e) = std::fs::write(path, report::to_markdown(&target, &reports))
    {
        eprintln!("rechain-conformance: writing {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    let s = report::summary(&reports);
    println!(
        "{} passed, {} failed ({} of them known deviations of the server), {} skipped",
        s.passed, s.failed, s.known_deviations, s.skipped
    );
    if s.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
