//! Containers on a real Docker engine (skipped with a reason when none is
//! reachable; failing under CUTOVER_REQUIRE_DOCKER=1):
//! - every container is confined by default (`no-new-privileges`, a pids
//!   limit) and as far as the plan's version asks (`cap_drop`, `cap_add`,
//!   `read_only` with a `tmpfs`, its own `pids_limit`), read back from the
//!   engine's own HostConfig, and carries its instance;
//! - two state directories that run the same service on one engine: the
//!   second daemon is refused while the first one lives (the refusal names
//!   its instance, state directory and admin address), starts once it is
//!   gone without touching its containers, and the first, started again,
//!   takes back exactly its own.

use crate::support::docker::Cleanup;
use crate::support::release::{Harness, Kind, Options, docker_required};
use cutover::daemon::{DaemonConfig, RunningDaemon};
use cutover::model::Phase;
use cutover::runtime::Runtime;
use cutover::runtime::docker::DockerRuntime;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn inspect(id: &str) -> serde_json::Value {
    let out = std::process::Command::new("docker")
        .args(["inspect", id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_confined_by_default_and_as_the_plan_asks() {
    let opts = Options {
        canary_extra: "cap_drop = [\"ALL\"]\ncap_add = [\"NET_BIND_SERVICE\"]\nread_only = true\ntmpfs = [\"/tmp\"]\npids_limit = 64",
        max_failed_requests: 100,
        ..Options::default()
    };
    let Some(h) = Harness::start_options(Kind::Docker, &opts).await else {
        return;
    };
    // The hardened canary starts and serves like any other.
    let s = h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    let stable = inspect(&s.stable.replicas[0].id);
    let canary = inspect(&s.canary.as_ref().expect("a canary").replicas[0].id);

    let host = &stable["HostConfig"];
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert_eq!(host["PidsLimit"], 1024, "the default pids limit");
    assert!(
        host["CapDrop"].is_null() && host["CapAdd"].is_null(),
        "{host}"
    );
    assert_eq!(host["ReadonlyRootfs"], false);

    let host = &canary["HostConfig"];
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["CapAdd"], serde_json::json!(["NET_BIND_SERVICE"]));
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(
        host["Tmpfs"],
        serde_json::json!({"/tmp": cutover::runtime::hardening::TMPFS_OPTIONS})
    );

    // Both carry this state directory's instance.
    let dir = h.daemon().dir.path.clone();
    let instance = std::fs::read_to_string(dir.join("instance")).unwrap();
    for c in [&stable, &canary] {
        let labels = &c["Config"]["Labels"];
        assert_eq!(labels["cutover.instance"], instance.trim());
        assert_eq!(labels["cutover.admin"], h.daemon().admin_addr.to_string());
        assert_eq!(labels["cutover.state"], dir.display().to_string());
    }
    h.finish().await;
}

/// The ids of the running containers of `service`.
fn containers_of(service: &str) -> BTreeSet<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=cutover.service={service}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

async fn runtime() -> Option<Arc<dyn Runtime>> {
    match DockerRuntime::connect().await {
        Ok(rt) => {
            crate::support::images::demo_images(rt.client()).await;
            Some(Arc::new(rt))
        }
        Err(e) if docker_required() => panic!("Docker is required but unreachable: {e}"),
        Err(e) => {
            eprintln!("skipping: no Docker engine reachable ({e})");
            None
        }
    }
}

async fn start(
    plan: &cutover::plan::Plan,
    root: &std::path::Path,
) -> color_eyre::Result<RunningDaemon> {
    let mut cfg = DaemonConfig::new(plan.clone(), root.to_path_buf());
    cfg.runtime = Some(runtime().await.expect("the engine is still there"));
    cutover::daemon::start(cfg).await
}

async fn stable_healthy(d: &RunningDaemon) -> Vec<String> {
    let client = d.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = client.state().await.unwrap();
        if s.stable.healthy() == 1 {
            return s.stable.replicas.iter().map(|r| r.id.clone()).collect();
        }
        assert!(Instant::now() < deadline, "stable never healthy: {s:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_state_directories_never_share_a_services_containers() {
    if runtime().await.is_none() {
        return;
    }
    let service = format!("inst-{}", std::process::id());
    let _cleanup = Cleanup::service(service.clone());
    let plan = cutover::plan::parse(
        &format!(
            "service = \"{service}\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             [stable]\nimage = \"cutover-demo:v1\"\nversion = \"v1\"\n\
             [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n\
             [drain]\ntimeout = \"1s\"\nstop_grace = \"1s\"\n"
        ),
        "instances.toml",
    )
    .unwrap();
    let (root_a, root_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let a = start(&plan, root_a.path()).await.expect("A starts");
    let a_replicas = stable_healthy(&a).await;
    let a_instance = std::fs::read_to_string(a.dir.file("instance")).unwrap();
    let running = containers_of(&service);
    assert_eq!(running.len(), 1);

    // B, same service, another state directory: refused while A lives.
    let err = match start(&plan, root_b.path()).await {
        Ok(b) => {
            b.stop().await;
            panic!("a second instance started next to a live one")
        }
        Err(e) => format!("{e:#}"),
    };
    for said in [
        "is run by another cutover daemon".to_string(),
        format!("instance {}", &a_instance[..8]),
        format!("state {}", a.dir.path.display()),
        format!("admin {}", a.admin_addr),
        "Stop that daemon".to_string(),
    ] {
        assert!(err.contains(&said), "{said:?} not in: {err}");
    }
    assert_eq!(
        containers_of(&service),
        running,
        "B started nothing, removed nothing"
    );

    // A stops (its container keeps running, as after a crash): B may start,
    // and starts its own stable next to A's, which it leaves alone.
    a.stop().await;
    let b = start(&plan, root_b.path())
        .await
        .expect("B starts once A is gone");
    let b_replicas = stable_healthy(&b).await;
    assert!(
        b_replicas.iter().all(|r| !a_replicas.contains(r)),
        "B adopted A's"
    );
    let journal = b.journal_path();
    let both = containers_of(&service);
    assert!(
        running.is_subset(&both),
        "A's container was removed: {both:?}"
    );
    assert_eq!(both.len(), 2);
    b.stop().await;
    let warned = cutover::journal::read_journal(&journal)
        .unwrap()
        .events
        .into_iter()
        .any(|e| {
            matches!(&e.kind, cutover::model::EventKind::Warning { message }
            if message.contains("belongs to another cutover") && message.contains(&a_instance[..8]))
        });
    assert!(warned, "B's journal says whose containers it left alone");

    // A again: takes back exactly its own, leaves B's.
    let a = start(&plan, root_a.path()).await.expect("A starts again");
    let again = stable_healthy(&a).await;
    assert_eq!(again, a_replicas, "A adopted its own container");
    assert_eq!(containers_of(&service), both, "nothing of B's removed");
    a.stop().await;
}
