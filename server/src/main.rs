//! The `rechain` command line: thin, everything lives in the library.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rechain_server::{app, config::Config, telemetry};

#[derive(Parser)]
#[command(name = "rechain", version, about = "REChain, a Matrix homeserver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with no --config: server name `localhost`, data in ./data, SQLite,
    /// client API on 127.0.0.1:8008).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print a commented configuration file with every option and its default.
    GenerateConfig,
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Manage local accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Contributor tools for room state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account, whatever the registration mode. The password is read from standard
    /// input (one line) when --password-stdin is given; without a password the account cannot
    /// log in with one.
    Create {
        /// The localpart: `alice` for @alice:<server_name>.
        localpart: String,
        #[arg(long)]
        password_stdin: bool,
        /// Make the account a server admin.
        #[arg(long)]
        admin: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Resolve state sets, or walk a DAG, from a JSON file (`-` for stdin); see
    /// docs/STATE_RESOLVE.md.
    Resolve { file: PathBuf },
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::GenerateConfig => {
            print!("{}", rechain_server::config::SAMPLE_CONFIG);
            Ok(())
        }
        Command::Serve { config } => load_config(config.as_ref()).and_then(serve),
        Command::Migrate { config } => load_config(config.as_ref()).and_then(migrate),
        Command::State {
            command: StateCommand::Resolve { file },
        } => state_resolve(&file),
        Command::User {
            command:
                UserCommand::Create {
                    localpart,
                    password_stdin,
                    admin,
                    config,
                },
        } => load_config(config.as_ref())
            .and_then(|c| create_user(c, &localpart, password_stdin, admin)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rechain: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The server's live heap stays small (under 20 MiB in a `rechain-load` run, 14 of them two
/// Argon2 buffers), but each thread of the blocking pool allocates: an allocator that keeps
/// freed memory per thread (mimalloc; glibc's default of eight arenas per core) held 130–210
/// MiB at the peak of the same run. glibc with one arena per core and a fixed mmap threshold
/// peaks at about 38 MiB, for some 5–10 % more CPU per message than mimalloc (alternating
/// runs, `docs/PERFORMANCE.md`): freed memory is reused across threads, and
/// blocks of 256 KiB or more (the Argon2 buffers) are mapped and returned on free, where the
/// default threshold grows to the largest block freed and keeps such blocks in an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    let arenas = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 8);
    let arenas = libc::c_int::try_from(arenas).unwrap_or(2);
    // SAFETY: mallopt only sets glibc allocator parameters (under the allocator's own lock);
    // it is called first thing in main, before any other thread exists. A refused value
    // (return 0) leaves glibc's default, which is correct, only larger.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Blocking work is database queries (bounded by the pool), password hashing and thumbnails
/// (bounded by their own semaphores) and file I/O: more threads than this only wait, each with
/// its own stack and allocator cache.
const BLOCKING_THREADS: usize = 32;

// Work running with direct storage holds a thread while it may wait on a write that needs
// another: the pool must be larger than the slots for it.
const _: () = assert!(BLOCKING_THREADS >= rechain_server::storage::DIRECT_SLOTS + 8);

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn serve(config: Config) -> Result<(), String> {
    telemetry::init_logging(&config.log);
    runtime()?.block_on(async {
        let mut server = app::start(config).await.map_err(|e| e.to_string())?;
        let stop = server.take_shutdown();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
        server.wait().await;
        Ok(())
    })
}

fn migrate(config: Config) -> Result<(), String> {
    telemetry::init_logging(&config.log);
    runtime()?.block_on(async {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("data directory {}: {e}", config.data_dir.display()))?;
        let db = app::open_database(&config)
            .await
            .map_err(|e| e.to_string())?;
        let pending = tokio::task::spawn_blocking(move || db.run_migrations())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        eprintln!(
            "database is up to date ({} migration(s) were pending; applied at open)",
            pending.len()
        );
        Ok(())
    })
}

fn create_user(
    config: Config,
    localpart: &str,
    password_stdin: bool,
    admin: bool,
) -> Result<(), String> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("stdin: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Err("empty password on standard input".to_owned());
        }
        Some(line)
    } else {
        None
    };
    runtime()?.block_on(async {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("data directory {}: {e}", config.data_dir.display()))?;
        let db = app::open_database(&config)
            .await
            .map_err(|e| e.to_string())?;
        let accounts =
            rechain_server::service::accounts::AccountService::new(&config, db.into_stores());
        let user_id = accounts
            .create_user(localpart, password, admin)
            .await
            .map_err(|e| e.message)?;
        println!("{user_id}");
        Ok(())
    })
}

fn state_resolve(file: &std::path::Path) -> Result<(), String> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("stdin: {e}"))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    let output = rechain_server::tools::state_resolve::run(&text)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
