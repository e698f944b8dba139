//! `rechain-load`: measures any homeserver by URL through the standard client API and prints
//! JSON. The server needs open registration (or `--registration-token`) and rate limits raised.
//! Give `--server-pid` (a local server) to add its CPU time and peak memory per scenario.

mod client;
mod procstat;
mod scenarios;
mod stats;

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use serde_json::{Value, json};

use crate::{client::Client, scenarios::measure};

#[derive(Parser, Debug)]
#[command(about = "Load-test a Matrix homeserver through the client-server API")]
struct Args {
    /// The homeserver's client API base URL.
    #[arg(long)]
    homeserver: String,
    /// A registration token, for servers that require one.
    #[arg(long)]
    registration_token: Option<String>,
    /// The server's process id, to report its CPU time and memory.
    #[arg(long)]
    server_pid: Option<String>,
    /// Small sizes, done in well under a minute; any size flag given still wins.
    #[arg(long)]
    quick: bool,
    /// Users registered (and then joined to the message room).
    #[arg(long)]
    users: Option<usize>,
    /// Concurrent senders in the message scenario.
    #[arg(long)]
    senders: Option<usize>,
    /// Messages sent in the message scenario (the initial sync then covers that room).
    #[arg(long)]
    messages: Option<usize>,
    /// Messages timed from send to delivery.
    #[arg(long)]
    delivery_samples: Option<usize>,
    /// Members of the room a newcomer joins.
    #[arg(long)]
    room_members: Option<usize>,
    /// Newcomers join the message room (all users, all messages) instead of a room of
    /// `--room-members` made for them: the scale-of-data run.
    #[arg(long)]
    newcomers_join_message_room: bool,
    /// Pages of 100 events read backwards through the message room.
    #[arg(long)]
    pages: Option<usize>,
    /// Fresh-device initial syncs timed.
    #[arg(long)]
    sync_repeats: Option<usize>,
    /// Requests in flight at once for registrations and joins.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Write the JSON here as well as to stdout.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

struct Sizes {
    users: usize,
    senders: usize,
    messages: usize,
    delivery_samples: usize,
    room_members: usize,
    sync_repeats: usize,
    pages: usize,
}

impl Sizes {
    fn from(args: &Args) -> Self {
        let (users, senders, messages, delivery, members, repeats, pages) = if args.quick {
            (20, 4, 300, 20, 50, 3, 3)
        } else {
            (100, 16, 5000, 100, 500, 5, 20)
        };
        Self {
            users: args.users.unwrap_or(users),
            senders: args.senders.unwrap_or(senders),
            messages: args.messages.unwrap_or(messages),
            delivery_samples: args.delivery_samples.unwrap_or(delivery),
            room_members: args.room_members.unwrap_or(members),
            sync_repeats: args.sync_repeats.unwrap_or(repeats),
            pages: args.pages.unwrap_or(pages),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sizes = Sizes::from(&args);
    let client = Client::new(&args.homeserver, args.registration_token.clone())?;
    let pid = args.server_pid.as_deref();
    let run = format!("load{:08x}", rand::random::<u32>());
    let started = Instant::now();
    let mut results = serde_json::Map::new();

    let count = sizes.users.max(sizes.senders + 2);
    let mut users = Vec::new();
    let numbers = measure(pid, count, async {
        let (registered, numbers) =
            scenarios::register_users(&client, &format!("{run}u"), count, args.concurrency).await?;
        users = registered;
        Ok(numbers)
    })
    .await?;
    results.insert("registrations".into(), numbers);

    let owner = &users[0];
    let room = client
        .create_room(owner, json!({"preset": "public_chat", "name": "load"}))
        .await?;
    let joiners = &users[1..];
    let numbers = measure(
        pid,
        joiners.len(),
        scenarios::join_all(&client, joiners, &room, args.concurrency),
    )
    .await?;
    results.insert("joins".into(), numbers);

    let senders = &users[..sizes.senders];
    let numbers = measure(
        pid,
        sizes.messages,
        scenarios::send_messages(&client, senders, &room, sizes.messages),
    )
    .await?;
    results.insert("messages".into(), numbers);

    // Delivery in a quiet room of two, so nothing else ends the long-polls.
    let (sender, receiver) = (&users[users.len() - 2], &users[users.len() - 1]);
    let pair = client
        .create_room(sender, json!({"preset": "public_chat"}))
        .await?;
    client.join(receiver, &pair).await?;
    let numbers = measure(
        pid,
        sizes.delivery_samples,
        scenarios::delivery_latency(&client, sender, receiver, &pair, sizes.delivery_samples),
    )
    .await?;
    results.insert("delivery".into(), numbers);

    let numbers = measure(
        pid,
        sizes.sync_repeats,
        scenarios::initial_sync(&client, owner, sizes.sync_repeats),
    )
    .await?;
    let mut numbers = numbers;
    numbers["room_events_at_least"] = json!(sizes.messages);
    results.insert("initial_sync".into(), numbers);

    let numbers = measure(
        pid,
        sizes.pages,
        scenarios::paginate(&client, owner, &room, sizes.pages, 100),
    )
    .await?;
    results.insert("pagination".into(), numbers);

    // Two newcomers, one syncing everything, one lazily: into a room of `room_members`
    // made for them, or into the message room itself.
    let crowd_size = if args.newcomers_join_message_room {
        2
    } else {
        sizes.room_members.saturating_sub(1) + 2
    };
    let (crowd, _) =
        scenarios::register_users(&client, &format!("{run}m"), crowd_size, args.concurrency)
            .await?;
    let (newcomers, members) = crowd.split_at(2);
    let (big, big_members) = if args.newcomers_join_message_room {
        (room.clone(), users.len())
    } else {
        let big = client
            .create_room(owner, json!({"preset": "public_chat", "name": "crowd"}))
            .await?;
        scenarios::join_all(&client, members, &big, args.concurrency).await?;
        (big, members.len() + 1)
    };
    for (newcomer, lazy, name) in [
        (&newcomers[0], false, "newcomer"),
        (&newcomers[1], true, "newcomer_lazy"),
    ] {
        let mut numbers =
            measure(pid, 1, scenarios::newcomer(&client, newcomer, &big, lazy)).await?;
        numbers["room_members"] = json!(big_members);
        results.insert(name.into(), numbers);
    }

    let mut report = json!({
        "homeserver": args.homeserver,
        "sizes": {
            "users": sizes.users, "senders": sizes.senders, "messages": sizes.messages,
            "delivery_samples": sizes.delivery_samples, "room_members": sizes.room_members,
            "sync_repeats": sizes.sync_repeats, "pages": sizes.pages,
            "newcomers_join_message_room": args.newcomers_join_message_room,
        },
        "scenarios": Value::Object(results),
        "wall_s": started.elapsed().as_secs_f64(),
    });
    if let Some((rss, peak)) = pid.and_then(procstat::memory_kib) {
        report["server_memory_kib"] = json!({ "rss_now": rss, "peak": peak });
    }
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, &text)?;
    }
    Ok(())
}
