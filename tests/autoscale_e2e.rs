//! `[autoscale]` on Docker under the test's own load: replicas go up while
//! slow requests pile up in flight and come back down once they stop, with
//! no failed request; a memory limit is raised while a replica's memory
//! grows toward it, before the OOM killer would act. Each load is a bounded
//! loop that stops by itself.

use crate::support::mixed_load::MixedLoad;
use crate::support::up::Up;
use cutover::api::client::Client;
use cutover::model::StateView;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn plan(service: &str, stable_extra: &str, autoscale: &str) -> String {
    format!(
        r#"service = "{service}"
runtime = "docker"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
image = "cutover-demo:v1"
version = "v1"
{stable_extra}
[health]
interval = "200ms"
timeout = "200ms"
healthy_after = 1
[drain]
timeout = "10s"
stop_grace = "2s"
[autoscale]
{autoscale}
"#
    )
}

async fn until(
    client: &Client,
    up: &Up,
    secs: u64,
    what: &str,
    ok: impl Fn(&StateView) -> bool,
) -> StateView {
    up.until(client, secs, what, ok).await
}

fn journal(up: &Up) -> String {
    std::fs::read_to_string(up.state().join("journal.jsonl")).unwrap_or_default()
}

/// `tasks` loops of `GET path` for `secs`, each on its own; (ok, failed).
async fn burst(addr: SocketAddr, path: &str, tasks: usize, secs: u64) -> (u64, u64) {
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut loops = Vec::new();
    for _ in 0..tasks {
        let (ok, failed) = (ok.clone(), failed.clone());
        let url = format!("http://{addr}{path}");
        loops.push(tokio::spawn(async move {
            let http = crate::support::http();
            while Instant::now() < end {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    for l in loops {
        let _ = l.await;
    }
    (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_follow_the_load_up_and_back_down() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("autoscale-{}", std::process::id());
    let _cleanup = crate::support::docker::Cleanup::service(&service);
    let text = plan(
        &service,
        "",
        "min = 1\nmax = 3\ntarget_inflight = 2\nscale_down_after = \"3s\"",
    );
    let mut up = Up::start(&service, &text, &[]);
    let client = up.client(60).await;
    until(&client, &up, 60, "stable healthy", |s| {
        s.stable.healthy() == 1
    })
    .await;
    let addr: SocketAddr = client.state().await.unwrap().public_addr.parse().unwrap();
    let load = MixedLoad::start(addr, false).await;

    // Eight slow requests in flight at all times, for 15 s.
    let slow = tokio::spawn(burst(addr, "/slow?ms=300", 8, 15));
    let s = until(&client, &up, 25, "more replicas under load", |s| {
        s.stable.healthy() >= 2
    })
    .await;
    let most = s.stable.replicas.len();
    let (ok, failed) = slow.await.unwrap();
    assert_eq!(failed, 0, "slow requests failed ({ok} ok)");
    until(&client, &up, 40, "back to one replica", |s| {
        s.stable.replicas.len() == 1 && s.stable.healthy() == 1
    })
    .await;
    let (seen, _) = load.stop().await;
    assert_eq!(
        (seen.failed, seen.refused),
        (0, 0),
        "requests failed: {:#?}",
        seen.examples
    );
    let j = journal(&up);
    assert!(
        j.contains("autoscale: in flight"),
        "no autoscale event:\n{j}"
    );
    assert!(
        j.contains("below target for 3s"),
        "no scale-down event:\n{j}"
    );
    eprintln!(
        "autoscale: up to {most} replicas; {ok} slow and {} other requests, 0 failed",
        seen.ok
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_is_raised_before_an_oom() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("automem-{}", std::process::id());
    let _cleanup = crate::support::docker::Cleanup::service(&service);
    let text = plan(
        &service,
        "memory = \"64MiB\"",
        "min = 1\nmax = 1\ntarget_inflight = 100\nmemory_ceiling = \"160MiB\"",
    );
    let mut up = Up::start(&service, &text, &[]);
    let client = up.client(60).await;
    let s = until(&client, &up, 60, "stable healthy", |s| {
        s.stable.healthy() == 1
    })
    .await;
    let id = s.stable.replicas[0].id.clone();
    let addr: SocketAddr = s.public_addr.parse().unwrap();
    let http = crate::support::http();
    let grow = |mib: u64| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/grow?mib={mib}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    // 40 MiB at once (well under the limit), then 1 MiB every 500 ms
    // through 85 % of 64 MiB and on, to about 80 MiB in all.
    grow(40).await;
    for _ in 0..36 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        grow(1).await;
    }
    let s = until(&client, &up, 10, "a raised limit", |s| {
        s.stable.memory.is_some_and(|m| m > 64 << 20)
    })
    .await;
    assert_eq!(s.stable.replicas.len(), 1);
    assert_eq!(
        s.stable.replicas[0].id, id,
        "the same container, never restarted"
    );
    let oom = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.State.OOMKilled}} {{.State.Running}}",
            &id,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&oom.stdout).trim(), "false true");
    let j = journal(&up);
    assert!(
        j.contains("memory limit raised 64 MiB → 96 MiB (use "),
        "{j}"
    );
    assert!(!j.contains("OOM"), "{j}");
}
