//! `cutover up` (the real binary, process runtime) killed with SIGKILL while
//! its replica writes to stderr without pause: the replica is not hurt by
//! its daemon's death (its output is a file in the state directory, not a
//! pipe to the daemon), the restarted daemon adopts it, and `logs` shows
//! what it wrote before the kill and after.
//!
//! The replica is a shell loop that stops at the first failed write (and a
//! shell dies of SIGPIPE before that), in front of a demo-app that serves
//! the health checks: what keeps it alive is where its output goes, not a
//! program that ignores write errors.

use crate::support::up::{Up, mode};
use crate::support::wait::poll;
use cutover::model::Role;
use std::time::Duration;

fn plan(service: &str) -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    format!(
        r#"service = "{service}"
runtime = "process"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
version = "v1"
command = ["sh", "-c", "\"$0\" demo-app --bind 127.0.0.1 --port \"$PORT\" --version v1 & i=0; while echo \"tick $i\" >&2; do i=$((i+1)); sleep 0.05; done", {exe:?}]
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
"#
    )
}

/// The number of the newest `tick N` line.
fn newest(lines: &[String]) -> Option<u64> {
    lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("tick ")?.parse().ok())
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|f| f.split_whitespace().next())
            != Some("Z")
    })
}

/// The stable replica's logs once `ok` holds (polled every 50 ms).
async fn logs_when(
    up: &Up,
    client: &cutover::api::client::Client,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let read = || async {
        let lines = client.logs(Role::Stable, 1000).await.ok()?;
        ok(&lines).then_some(lines)
    };
    poll(Duration::from_secs(20), Duration::from_millis(50), read)
        .await
        .unwrap_or_else(|| panic!("the logs never showed {what}:\n{}", up.all_stderr()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_leaves_a_chatty_replica_alive_and_its_logs_readable_after_the_restart() {
    let service = format!("chatty-{}", std::process::id());
    let mut up = Up::start(&service, &plan(&service), &[]);
    let client = up.client(30).await;
    let s = up
        .until(&client, 30, "stable healthy", |s| s.stable.healthy() == 1)
        .await;
    let id = s.stable.replicas[0].id.clone();
    let pid: i32 = id.strip_prefix("pid:").unwrap().parse().unwrap();
    let before = logs_when(&up, &client, "ticks", |l| newest(l).is_some()).await;
    let at_kill = newest(&before).unwrap();

    up.kill9();
    // The condition itself: a second after its daemon died, it still runs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(alive(pid), "the replica died with its daemon");

    // The dead daemon's address file would send the client to it.
    let _ = std::fs::remove_file(up.state().join("admin.addr"));
    up.spawn(&[]);
    let client = up.client(30).await;
    let s = up
        .until(&client, 30, "the replica adopted and healthy", |s| {
            s.stable.healthy() == 1
        })
        .await;
    assert_eq!(s.stable.replicas[0].id, id, "the same process, adopted");
    // A second at a tick every 50 ms passed while no daemon ran.
    let after = logs_when(&up, &client, "ticks written after the kill", |l| {
        newest(l).is_some_and(|n| n > at_kill + 20)
    })
    .await;
    assert!(
        after.contains(&format!("tick {at_kill}")),
        "what it wrote before the kill is there too: {:?}",
        &after[..after.len().min(5)]
    );
    // Private, as the rest of the state directory.
    let dir = up.state().join("replicas");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(format!("pid-{pid}.log"))), 0o600);
    assert!(alive(pid));
}
