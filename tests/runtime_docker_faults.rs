//! The Docker runtime against the real engine, below the controller: an
//! OOM-killed container is reported as such, a live resize shows in
//! `docker inspect`, a missing image says how to build it, a start that
//! fails half-way leaves nothing behind, a port clash and a refused create
//! say so, stop times its grace itself (SIGTERM, grace, SIGKILL), an exit
//! while the event stream is down is still reported once, only containers
//! with cutover's whole identity count as ours, an unreachable engine is
//! named, and nothing with the test's label is left behind. One test prints
//! the measured times (image build, start → healthy, stop, remove).

use crate::support::docker::Cleanup;
use cutover::model::Role;
use cutover::runtime::docker::DockerRuntime;
use cutover::runtime::{Replica, Runtime, RuntimeError, RuntimeEvent, VersionSpec};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn runtime() -> Option<DockerRuntime> {
    match DockerRuntime::connect().await {
        Ok(rt) => {
            crate::support::images::demo_images(rt.client()).await;
            Some(rt)
        }
        Err(e) => {
            assert!(
                std::env::var("CUTOVER_REQUIRE_DOCKER").as_deref() != Ok("1"),
                "Docker is required (CUTOVER_REQUIRE_DOCKER=1) but unreachable: {e}"
            );
            eprintln!("skipping: no Docker engine reachable ({e})");
            None
        }
    }
}

fn spec(service: &str, image: &str, memory: Option<u64>, env: &[(&str, &str)]) -> VersionSpec {
    VersionSpec {
        service: service.into(),
        role: Role::Canary,
        release: 1,
        version: "v2".into(),
        image: Some(image.into()),
        command: None,
        upstreams: vec![],
        replicas: 1,
        port: 8080,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        cpus: Some(0.5),
        memory,
        labels: BTreeMap::from([("cutover.test".to_string(), service.to_string())]),
        pull: Default::default(),
        pinned: None,
        pass_env: Vec::new(),
        hardening: Default::default(),
    }
}

fn left(label: &str) -> usize {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=cutover.test={label}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed_container_is_reported_as_oom() {
    let Some(rt) = runtime().await else { return };
    let service = format!("oom-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let mut events = rt.subscribe();
    let started = Instant::now();
    let replicas = rt
        .start(&spec(
            &service,
            "cutover-demo:v2",
            Some(32 << 20),
            &[("DEMO_HOG_MIB", "64")],
        ))
        .await
        .unwrap();
    let r = &replicas[0];
    let http = crate::support::http();
    // Wait until it answers, then feed the hog. One request asks twice the
    // limit, so the kernel kills at once: a hog that stopped just under the
    // limit would leave the process thrashing on its own code pages (seen
    // at 16 MiB with 8 MiB per request: seconds per answer, and once a CI
    // run hung here), which tests nothing.
    while http
        .get(format!("http://{}/healthz", r.addr))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the container never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("container start → first answer: {:?}", started.elapsed());
    for _ in 0..3 {
        let _ = http.get(format!("http://{}/", r.addr)).send().await;
    }
    let ev = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(RuntimeEvent::Exited {
                id,
                code,
                oom_killed,
            }) = events.recv().await
                && id == r.id
            {
                return (code, oom_killed);
            }
        }
    })
    .await
    .expect("an exit event");
    assert_eq!(ev, (137, true), "reported as killed by the OOM killer");
    let t = Instant::now();
    rt.remove(r).await.unwrap();
    eprintln!("remove: {:?}", t.elapsed());
    assert_eq!(left(&service), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_resize_shows_in_inspect_and_missing_images_say_how_to_build() {
    let Some(rt) = runtime().await else { return };
    let service = format!("resize-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let replicas = rt
        .start(&spec(&service, "cutover-demo:v1", Some(64 << 20), &[]))
        .await
        .unwrap();
    let r = &replicas[0];
    rt.resize(r, Some(0.25), Some(96 << 20)).await.unwrap();
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            &r.id,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} 250000000", 96u64 << 20)
    );
    let t = Instant::now();
    rt.stop(r, Duration::from_secs(2)).await.unwrap();
    rt.remove(r).await.unwrap();
    eprintln!("stop + remove: {:?}", t.elapsed());
    assert_eq!(left(&service), 0);

    let err = rt
        .start(&spec(&service, "cutover-nonexistent:v9", None, &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err}");
    assert!(err.to_string().contains("cutover image build"), "{err}");
    assert_eq!(left(&service), 0, "nothing was created for a missing image");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker run -d` with the test's label; returns the container id.
fn run(label: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(["run", "-d", "--label", &format!("cutover.test={label}")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn inspect(id: &str, format: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "--format", format, id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn as_replica(id: &str) -> Replica {
    Replica {
        id: id.to_string(),
        role: Role::Canary,
        release: 1,
        version: "v2".into(),
        addr: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_on_its_second_replica_leaves_nothing_behind() {
    let Some(rt) = runtime().await else { return };
    // One host port for two replicas: the engine gives it to the first and
    // refuses the second at start (a real port clash).
    let port = free_port();
    let rt = rt.with_host_ports(port, port);
    let service = format!("partial-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let mut two = spec(&service, "cutover-demo:v1", None, &[]);
    two.replicas = 2;
    let err = rt.start(&two).await.unwrap_err();
    assert!(matches!(err, RuntimeError::PortClash(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("port clash")
            && text.contains(&format!("127.0.0.1:{port}"))
            && text.contains("already allocated"),
        "{text}"
    );
    assert_eq!(left(&service), 0, "the first replica went with the failure");
    assert!(rt.list(&service).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_another_process_is_a_clear_port_clash() {
    let Some(rt) = runtime().await else { return };
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let rt = rt.with_host_ports(port, port);
    let service = format!("clash-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let err = rt
        .start(&spec(&service, "cutover-demo:v1", None, &[]))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::PortClash(_)), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("address already in use"),
        "{text}"
    );
    assert!(text.contains("holds that host port"), "{text}");
    assert_eq!(left(&service), 0);
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_engine_refuses_says_why() {
    let Some(rt) = runtime().await else { return };
    let service = format!("refused-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    // Below the engine's minimum memory limit: only the engine knows that.
    let err = rt
        .start(&spec(&service, "cutover-demo:v1", Some(1 << 20), &[]))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::CreateRefused(_)), "{text}");
    assert!(
        text.starts_with("create refused: create cutover-")
            && text.contains("Minimum memory limit"),
        "{text}"
    );
    assert_eq!(left(&service), 0);
}

/// The engine's own events for one container, in order: `kill` with its
/// signal number, `die` with its exit code.
fn engine_events(
    docker: &bollard::Docker,
    id: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut filters = std::collections::HashMap::new();
    filters.insert("container".to_string(), vec![id.to_string()]);
    filters.insert(
        "event".to_string(),
        vec!["kill".to_string(), "die".to_string()],
    );
    let mut stream = docker.events(Some(bollard::query_parameters::EventsOptions {
        since: Some("0".into()),
        filters: Some(filters),
        ..Default::default()
    }));
    tokio::spawn(async move {
        while let Some(Ok(ev)) = stream.next().await {
            let attrs = ev.actor.and_then(|a| a.attributes).unwrap_or_default();
            let what = match ev.action.as_deref() {
                Some("kill") => {
                    format!("kill {}", attrs.get("signal").cloned().unwrap_or_default())
                }
                Some("die") => {
                    format!("die {}", attrs.get("exitCode").cloned().unwrap_or_default())
                }
                other => format!("{other:?}"),
            };
            if tx.send(what).is_err() {
                return;
            }
        }
    });
    rx
}

async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an engine event")
        .expect("the event stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_a_container_that_ignores_sigterm_after_the_exact_grace() {
    let Some(rt) = runtime().await else { return };
    let label = format!("grace-{}", std::process::id());
    let _cleanup = Cleanup::test(label.clone());
    // `cutover load` handles only Ctrl-C; as PID 1 in a container the
    // kernel drops a SIGTERM it has no handler for: it ignores SIGTERM.
    let id = run(
        &label,
        &[
            "--entrypoint",
            "/cutover",
            "cutover-demo:v1",
            "load",
            "http://127.0.0.1:9/",
            "--rps",
            "1",
            "--duration",
            "1h",
        ],
    );
    let mut events = engine_events(rt.client(), &id);
    let grace = Duration::from_secs(3);
    let stop = {
        let rt = std::sync::Arc::new(rt);
        let r = as_replica(&id);
        let rt2 = rt.clone();
        (tokio::spawn(async move { rt2.stop(&r, grace).await }), rt)
    };
    assert_eq!(next_event(&mut events).await, "kill 15", "SIGTERM first");
    assert_eq!(
        inspect(&id, "{{.State.Running}}"),
        "true",
        "still running just after SIGTERM"
    );
    assert!(!stop.0.is_finished(), "stop waits out the grace");
    assert_eq!(next_event(&mut events).await, "kill 9", "then SIGKILL");
    assert_eq!(next_event(&mut events).await, "die 137");
    tokio::time::timeout(grace + Duration::from_secs(10), stop.0)
        .await
        .expect("stop returns after grace + kill")
        .unwrap()
        .unwrap();
    assert_eq!(
        inspect(&id, "{{.State.Running}} {{.State.ExitCode}}"),
        "false 137"
    );
    stop.1.remove(&as_replica(&id)).await.unwrap();

    // A sub-second grace is a grace, not an immediate kill.
    let id = run(
        &label,
        &[
            "--entrypoint",
            "/cutover",
            "cutover-demo:v1",
            "load",
            "http://127.0.0.1:9/",
            "--rps",
            "1",
            "--duration",
            "1h",
        ],
    );
    let mut events = engine_events(stop.1.client(), &id);
    stop.1
        .stop(&as_replica(&id), Duration::from_millis(300))
        .await
        .unwrap();
    let order = [
        next_event(&mut events).await,
        next_event(&mut events).await,
        next_event(&mut events).await,
    ];
    assert_eq!(order, ["kill 15", "kill 9", "die 137"].map(String::from));
    stop.1.remove(&as_replica(&id)).await.unwrap();
    assert_eq!(left(&label), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_a_container_that_obeys_sigterm_exit_with_its_own_code() {
    let Some(rt) = runtime().await else { return };
    let label = format!("obey-{}", std::process::id());
    let _cleanup = Cleanup::test(label.clone());
    // The demo app finishes in-flight requests on SIGTERM and exits 0. It
    // must be up first: as PID 1 it ignores SIGTERM until its handler is in.
    let r = rt
        .start(&spec(&label, "cutover-demo:v1", None, &[]))
        .await
        .unwrap();
    let id = r[0].id.clone();
    let http = crate::support::http();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("http://{}/healthz", r[0].addr))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the demo app never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut events = engine_events(rt.client(), &id);
    rt.stop(&as_replica(&id), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(next_event(&mut events).await, "kill 15");
    assert_eq!(
        next_event(&mut events).await,
        "die 0",
        "no SIGKILL was needed"
    );
    assert_eq!(
        inspect(&id, "{{.State.Running}} {{.State.ExitCode}}"),
        "false 0"
    );
    rt.stop(&as_replica(&id), Duration::from_secs(5))
        .await
        .expect("stopping a stopped container is fine");
    rt.remove(&as_replica(&id)).await.unwrap();
    assert_eq!(left(&label), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_the_event_stream_is_down_is_reported_once() {
    if runtime().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fwd = crate::support::release::Forwarder::start(dir.path());
    let rt = DockerRuntime::connect_to(&format!("unix://{}", fwd.path.display()))
        .await
        .unwrap();
    let service = format!("gap-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let mut events = rt.subscribe();
    let r = rt
        .start(&spec(&service, "cutover-demo:v1", None, &[]))
        .await
        .unwrap();
    let id = r[0].id.clone();
    fwd.cut();
    let down = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(RuntimeEvent::Reachable { ok: false, detail }) = events.recv().await {
                return detail;
            }
        }
    })
    .await
    .expect("the runtime says the engine is gone");
    eprintln!("while cut: {down}");
    // The container dies while nobody can hear the engine.
    let out = std::process::Command::new("docker")
        .args(["kill", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    fwd.restore();
    let mut exits = Vec::new();
    let mut back = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && (exits.is_empty() || !back) {
        match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            Ok(Ok(RuntimeEvent::Exited {
                id: got,
                code,
                oom_killed,
            })) if got == id => exits.push((code, oom_killed)),
            Ok(Ok(RuntimeEvent::Reachable { ok: true, .. })) => back = true,
            _ => {}
        }
    }
    assert!(back, "the runtime says the engine is back");
    // Any duplicate (replay + re-check) would arrive right after.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(settle, events.recv()).await {
        if let RuntimeEvent::Exited {
            id: got,
            code,
            oom_killed,
        } = ev
            && got == id
        {
            exits.push((code, oom_killed));
        }
    }
    assert_eq!(exits, vec![(137, false)], "reported exactly once");
    rt.remove(&r[0]).await.unwrap();
    assert_eq!(left(&service), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_containers_with_cutovers_whole_identity_are_ours() {
    let Some(rt) = runtime().await else { return };
    let service = format!("ident-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let full = |role: &str| {
        vec![
            "--label".to_string(),
            format!("cutover.service={service}"),
            "--label".to_string(),
            format!("cutover.role={role}"),
            "--label".to_string(),
            "cutover.release=3".to_string(),
            "--label".to_string(),
            "cutover.version=v1".to_string(),
        ]
    };
    let args = |mut labels: Vec<String>, rest: &[&str]| {
        labels.extend(rest.iter().map(|s| s.to_string()));
        labels
    };
    let running = run(
        &service,
        &args(full("stable"), &["cutover-demo:v1"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    // Exits at once (0) and stays as a dead container.
    let dead = run(
        &service,
        &args(
            full("canary"),
            &["--entrypoint", "/cutover", "cutover-demo:v1", "--version"],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    let lookalike = run(
        &service,
        &[
            "--label",
            &format!("cutover.service={service}"),
            "--label",
            "cutover.role=canary",
            "cutover-demo:v1",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while inspect(&dead, "{{.State.Status}}") != "exited" {
        assert!(
            Instant::now() < deadline,
            "the short-lived container never exited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inv = rt.inventory(&service).await.unwrap();
    let ids = |rs: &[Replica]| rs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&inv.running),
        vec![running.clone()],
        "adoptable: the running one"
    );
    assert_eq!(inv.running[0].release, 3);
    assert!(inv.running[0].addr.starts_with("127.0.0.1:") || inv.running[0].addr.is_empty());
    assert_eq!(inv.exited.len(), 1);
    assert_eq!(
        (inv.exited[0].0.id.as_str(), inv.exited[0].1.as_str()),
        (dead.as_str(), "exited 0")
    );
    assert_eq!(inv.foreign.len(), 1, "{:?}", inv.foreign);
    assert!(
        inv.foreign[0].contains(&lookalike[..12]) && inv.foreign[0].contains("left alone"),
        "{:?}",
        inv.foreign
    );
    // Cleanup lists ours, dead or alive, and never the look-alike.
    let mut listed = ids(&rt.list(&service).await.unwrap());
    listed.sort();
    let mut ours = vec![running.clone(), dead.clone()];
    ours.sort();
    assert_eq!(listed, ours);
    for r in rt.list(&service).await.unwrap() {
        rt.remove(&r).await.unwrap();
    }
    assert_eq!(
        inspect(&lookalike, "{{.State.Running}}"),
        "true",
        "never touched"
    );
    assert_eq!(left(&service), 1);
}

#[test]
fn an_unreachable_engine_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("no-engine-here.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["image", "build"])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "docker engine unreachable at unix://{} (from DOCKER_HOST): no socket at {}",
            sock.display(),
            sock.display()
        )),
        "{stderr}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["image", "build"])
        .env("DOCKER_HOST", "ssh://deploy@shop-1.example")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ssh://deploy@shop-1.example (from DOCKER_HOST)")
            && stderr.contains("try `ssh -o BatchMode=yes deploy@shop-1.example docker version`"),
        "{stderr}"
    );
}

/// Not a check: the figures for the notes (`--nocapture` to see them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_image_build_start_to_healthy_stop_and_remove() {
    let Some(rt) = runtime().await else { return };
    let turn = crate::support::images::turn().await;
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cutover"));
    let tag = format!("cutover-measure:{}", std::process::id());
    let cold = cutover::runtime::image::build_demo_image(rt.client(), exe, &tag, "v1", true)
        .await
        .unwrap();
    let warm = cutover::runtime::image::build_demo_image(rt.client(), exe, &tag, "v1", false)
        .await
        .unwrap();
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
    drop(turn);
    let service = format!("measure-{}", std::process::id());
    let _cleanup = Cleanup::test(service.clone());
    let http = crate::support::http();
    let mut rows = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = rt
            .start(&spec(&service, "cutover-demo:v1", None, &[]))
            .await
            .unwrap();
        let started = t0.elapsed();
        loop {
            match http
                .get(format!("http://{}/healthz", r[0].addr))
                .send()
                .await
            {
                Ok(resp) if resp.status().is_success() => break,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "never healthy");
        }
        let healthy = t0.elapsed();
        let t1 = Instant::now();
        rt.stop(&r[0], Duration::from_secs(10)).await.unwrap();
        let stopped = t1.elapsed();
        let t2 = Instant::now();
        rt.remove(&r[0]).await.unwrap();
        rows.push((started, healthy, stopped, t2.elapsed()));
    }
    eprintln!(
        "MEASURED image build, one image: cold (no layer cache) {:.2} s, with the engine's layer cache {:.2} s",
        cold.as_secs_f64(),
        warm.as_secs_f64()
    );
    for (started, healthy, stopped, removed) in rows {
        eprintln!(
            "MEASURED create+start {:.0} ms, start → healthy (first 200 on /healthz) {:.0} ms, stop (SIGTERM, exits 0) {:.0} ms, remove {:.0} ms",
            started.as_secs_f64() * 1e3,
            healthy.as_secs_f64() * 1e3,
            stopped.as_secs_f64() * 1e3,
            removed.as_secs_f64() * 1e3
        );
    }
    assert_eq!(left(&service), 0);
}

/// A rebuild replaces the image its tag named and removes the old one, so
/// rebuilding the demo images for every new binary leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_removes_the_image_it_replaced() {
    let Some(rt) = runtime().await else { return };
    let _turn = crate::support::images::turn().await;
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cutover"));
    let tag = format!("cutover-rebuild:{}", std::process::id());
    let id = |tag: &str| {
        let out = std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", tag])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    cutover::runtime::image::build_demo_image(rt.client(), exe, &tag, "v1", true)
        .await
        .unwrap();
    let first = id(&tag).expect("built");
    // No cache: a new image (new creation time) under the same tag.
    cutover::runtime::image::build_demo_image(rt.client(), exe, &tag, "v1", true)
        .await
        .unwrap();
    let second = id(&tag).expect("rebuilt");
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
    assert_ne!(first, second, "the rebuild made a new image");
    assert_eq!(id(&first), None, "the replaced image {first} is gone");
}
