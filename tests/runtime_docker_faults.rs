//! The Docker runtime against the real engine, below the controller: an
//! OOM-killed container is reported as such, a live resize shows in
//! `docker inspect`, a missing image says how to build it, and nothing with
//! the test's label is left behind.

use cutover::model::Role;
use cutover::runtime::docker::DockerRuntime;
use cutover::runtime::{Runtime, RuntimeError, RuntimeEvent, VersionSpec};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn runtime() -> Option<DockerRuntime> {
    match DockerRuntime::connect().await {
        Ok(rt) => {
            let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cutover"));
            cutover::runtime::image::build_demo_images(rt.client(), exe, "cutover-demo")
                .await
                .unwrap();
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
    }
}

/// Removes every container with the test's label, even when the test fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=cutover.test={}", self.0),
            ])
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
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
    let _cleanup = Cleanup(service.clone());
    let mut events = rt.subscribe();
    let started = Instant::now();
    let replicas = rt
        .start(&spec(
            &service,
            "cutover-demo:v2",
            Some(16 << 20),
            &[("DEMO_HOG_MIB", "8")],
        ))
        .await
        .unwrap();
    let r = &replicas[0];
    let http = reqwest::Client::new();
    // Wait until it answers, then feed the hog.
    while http
        .get(format!("http://{}/healthz", r.addr))
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
    for _ in 0..10 {
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
    let _cleanup = Cleanup(service.clone());
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
