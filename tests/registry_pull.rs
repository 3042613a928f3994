//! Canaries from a real registry (`support/registry.rs`): an image given
//! only as a registry reference is pulled with the credential in a test
//! `config.json` (progress journaled), pinned to its digest and promoted;
//! a restart runs the pinned digest. A wrong password, a missing tag, an
//! unreachable registry and a bad reference each fail the deploy with a
//! clear message before anything changes: stable keeps serving, untouched.
//! A registry that accepts connections and never answers times out.

use crate::support::registry::{self, PASSWORD, Registry, USER};
use crate::support::release::{Harness, Options, Steps, docker_required};
use cutover::model::{Action, ActionRequest, Actor, Event, EventKind, Phase, Role};
use cutover::runtime::docker::DockerRuntime;
use cutover::runtime::{Runtime, RuntimeError};
use std::sync::Arc;
use std::time::Duration;

/// The engine with credentials from `config_dir`; `None`: skip.
async fn runtime_with(config_dir: &std::path::Path) -> Option<DockerRuntime> {
    match DockerRuntime::connect().await {
        Ok(rt) => {
            crate::support::images::demo_images(rt.client()).await;
            Some(rt.with_docker_config(config_dir))
        }
        Err(e) if docker_required() => panic!("Docker is required but unreachable: {e}"),
        Err(e) => {
            eprintln!("skipping: no Docker engine reachable ({e})");
            None
        }
    }
}

fn pulls(events: &[Event]) -> Vec<(chrono::DateTime<chrono::Utc>, &EventKind)> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Pull { .. }))
        .map(|e| (e.at, &e.kind))
        .collect()
}

fn failed_reason(events: &[Event]) -> String {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::Phase {
                to: Phase::Failed,
                reason,
                ..
            } => reason.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

fn container_image(id: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.Config.Image}}", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_given_as_a_registry_reference_is_pulled_pinned_and_promoted() {
    let Some(reg) = Registry::start(true) else {
        return;
    };
    let creds = reg.docker_config(USER, PASSWORD);
    let Some(rt) = runtime_with(creds.path()).await else {
        return;
    };
    let repo = format!("cutover-it/pull-{}", std::process::id());
    let reference = reg.push_unique(rt.client(), &repo, "v2", 8).await;
    let opts = Options {
        canary_image: Some(&reference),
        steps: Some(&Steps::quick()),
        max_failed_requests: 20,
        ..Options::default()
    };
    let mut h = Harness::start_on_runtime(Arc::new(rt), &opts)
        .await
        .expect("the harness starts");
    h.wait_stable().await;
    let load = h.load(50.0);
    let done = h.wait_promoted(Duration::from_secs(120)).await;
    let seen = load.stop().await;
    assert_eq!(
        seen.failed(),
        0,
        "no failed request through pull and promotion: {seen:?}"
    );

    // The pull is in the journal: per-layer bytes, at most 2 reports a
    // second, and a last one naming the digest.
    let journal = h.journal().await;
    let pulls = pulls(&journal);
    let last = pulls.last().expect("pull events in the journal").1;
    let EventKind::Pull {
        role,
        image,
        layers,
        done: true,
        digest: Some(digest),
    } = last
    else {
        panic!("the last pull event says done with a digest: {last:?}")
    };
    assert_eq!((*role, image.as_str()), (Role::Canary, reference.as_str()));
    let (fetched, total, _, n) = cutover::model::pull_totals(layers);
    assert!(n >= 2 && total >= 8 << 20 && fetched == total, "{layers:?}");
    let repo_only = reference.rsplit_once(':').unwrap().0;
    assert!(
        digest.starts_with(&format!("{repo_only}@sha256:")),
        "{digest}"
    );
    let progress: Vec<_> = pulls
        .iter()
        .filter(|(_, k)| !matches!(k, EventKind::Pull { done: true, .. }))
        .collect();
    for pair in progress.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= chrono::Duration::milliseconds(450),
            "throttled: {gap}"
        );
    }

    // Stable now runs the pinned digest, in state and in the engine.
    assert_eq!(done.stable.pinned.as_deref(), Some(digest.as_str()));
    for r in &done.stable.replicas {
        assert_eq!(
            container_image(&r.id),
            *digest,
            "replica {} runs the digest",
            r.id
        );
    }

    // A restart that finds stable gone starts it again from the digest.
    let ids: Vec<String> = done.stable.replicas.iter().map(|r| r.id.clone()).collect();
    h.restart_daemon(async || {
        for id in &ids {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", id])
                .output();
        }
    })
    .await;
    let again = h
        .wait_until("stable restarted", Duration::from_secs(60), |s| {
            s.stable.healthy() >= 1 && s.stable.replicas.iter().all(|r| !ids.contains(&r.id))
        })
        .await;
    assert_eq!(again.stable.pinned.as_deref(), Some(digest.as_str()));
    for r in &again.stable.replicas {
        assert_eq!(container_image(&r.id), *digest);
    }
    h.finish().await;
    registry::remove_image(digest);
    registry::remove_image(&reference);
}

async fn deploy(h: &Harness, image: &str) -> Result<(), String> {
    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Deploy {
                image: image.into(),
            },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_references_missing_tags_and_wrong_passwords_fail_before_anything_changes() {
    let Some(reg) = Registry::start(true) else {
        return;
    };
    let creds = reg.docker_config(USER, "not-the-password");
    let Some(rt) = runtime_with(creds.path()).await else {
        return;
    };
    let repo = format!("cutover-it/fail-{}", std::process::id());
    let reference = reg.push_unique(rt.client(), &repo, "v2", 1).await;
    let h = Harness::start_on_runtime(
        Arc::new(rt),
        &Options {
            canary_image: Some(&reference),
            steps: Some(&Steps::manual()),
            max_failed_requests: 20,
            ..Options::default()
        },
    )
    .await
    .expect("the harness starts");
    let stable = h.wait_stable().await;
    let stable_ids: Vec<String> = stable
        .stable
        .replicas
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let load = h.load(40.0);

    // The plan's canary, with a wrong password: unauthorized.
    let failed = h.wait_phase(Phase::Failed, Duration::from_secs(60)).await;
    let why = failed_reason(&h.journal().await);
    assert!(
        why.contains(&format!(
            "cannot pull {reference}: unauthorized by registry {}",
            reg.addr
        )),
        "{why}"
    );
    assert!(why.contains("docker login"), "{why}");
    assert!(failed.canary.is_none() && failed.weight_permille == 0);

    // The right password, a tag the registry does not have: not found.
    registry::write_auths(creds.path(), &reg.addr, USER, PASSWORD);
    // `cutover deploy` follows the deploy and exits 1 with the reason.
    let missing = format!("{}/{repo}:v9", reg.addr);
    let ran = cli(&h, &["deploy", "--canary", &missing]).await;
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    let said = String::from_utf8_lossy(&ran.stderr);
    assert!(
        said.contains(&format!(
            "the deploy failed: the canary could not start: cannot pull {missing}: not found in registry {}",
            reg.addr
        )),
        "{said}"
    );
    assert_eq!(h.state().await.release, failed.release + 1);

    // A registry nobody serves: unreachable.
    let nowhere = format!("127.0.0.1:{}/{repo}:v2", registry::free_port());
    deploy(&h, &nowhere).await.expect("the deploy is accepted");
    h.wait_until(
        "the unreachable registry fails",
        Duration::from_secs(60),
        |s| s.phase == Phase::Failed && s.release == failed.release + 2,
    )
    .await;
    let why = failed_reason(&h.journal().await);
    assert!(why.contains("is unreachable from the engine"), "{why}");

    // Not a reference at all: refused at once, nothing deployed.
    let refused = deploy(&h, "127.0.0.1:5000/Shop With Spaces:v2")
        .await
        .unwrap_err();
    assert!(
        refused.contains("is not a Docker image reference"),
        "{refused}"
    );

    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "stable served every request: {seen:?}");
    assert_eq!(
        seen.by_version.get("v2"),
        None,
        "no request reached a canary"
    );
    let now = h.state().await;
    let mut now_ids: Vec<String> = now.stable.replicas.iter().map(|r| r.id.clone()).collect();
    let mut was = stable_ids.clone();
    now_ids.sort();
    was.sort();
    assert_eq!(now_ids, was, "stable's replicas are the very same");
    h.assert_only(Role::Stable).await;

    // Now with everything right, from the CLI: plain progress lines (no
    // terminal), the digest it is pinned to, exit 0 once started.
    let cli = cli(&h, &["deploy", "--canary", &reference]).await;
    let said = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(0), "{cli:?}");
    assert!(said.contains(&format!("pulled {reference} (")), "{said}");
    assert!(said.contains("layers) → pinned sha256:"), "{said}");
    assert!(
        String::from_utf8_lossy(&cli.stdout).contains("canary replicas started"),
        "{cli:?}"
    );
    h.finish().await;
    registry::remove_image(&reference);
}

/// `cutover --state-dir ROOT args…` against the harness' daemon, no terminal.
async fn cli(h: &Harness, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(h.dir.path())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

/// A registry that takes the connection and never answers: the pull gives
/// up once the engine has said nothing for the stall bound, as a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = runtime_with(dir.path()).await else {
        return;
    };
    let rt = rt.with_pull_stall(Duration::from_secs(3));
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let spec = cutover::runtime::VersionSpec {
        service: "pull-timeout".into(),
        role: Role::Canary,
        release: 1,
        version: "v2".into(),
        image: Some(format!("{addr}/cutover-it/silent:v1")),
        command: None,
        upstreams: vec![],
        replicas: 1,
        port: 8080,
        env: Default::default(),
        cpus: None,
        memory: None,
        labels: Default::default(),
        pull: Default::default(),
        pinned: None,
        pass_env: Vec::new(),
        hardening: Default::default(),
    };
    let err = rt.prepare(&spec, &|_| {}).await.unwrap_err();
    held.abort();
    assert!(
        matches!(
            err,
            RuntimeError::Pull {
                failure: cutover::runtime::pull::PullFailure::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("stopped answering"), "{err}");
}
