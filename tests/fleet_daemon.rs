//! Several services behind one daemon (`[[services]]`), through real
//! sockets and real replicas (the process runtime running the demo app):
//! the public listener routes by Host, each service is released on its
//! own — deploy, weight, promote — while the test's own client keeps
//! asking all three, and not one request fails or reaches another service.

use crate::support::fleet_load::{Load, Seen, in_process};
use cutover::daemon::fleet::RunningFleet;
use cutover::model::{Action, ActionRequest, Actor, Phase};
use std::time::Duration;

const SERVICES: [&str; 3] = ["shop", "api", "admin"];

fn plan(exe: &str) -> String {
    let mut text = String::from("[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n");
    for name in SERVICES {
        text.push_str(&format!(
            r#"
[[services]]
service = "fleet-{name}"
hosts = ["{name}.example.test"]
runtime = "process"
[services.stable]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{name}-v1"]
[services.health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[services.drain]
timeout = "5s"
[services.deploy]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{{version}}"]
"#
        ));
    }
    text
}

/// Release every service of `d` in turn under the test's own load —
/// deploy (`deploy(name)`), 50 %, promote — and check that not one request
/// failed or reached another service. `stable(name)`: the version it ends on.
async fn release_each_under_load(
    d: &RunningFleet,
    prefix: &str,
    deploy: impl Fn(&str) -> String,
    stable: impl Fn(&str) -> String,
) -> Seen {
    for name in SERVICES {
        until(d, &format!("{prefix}-{name}"), "stable healthy", |s| {
            s.stable.healthy() == 1
        })
        .await;
    }
    let load = Load::start(d.public_addr, &SERVICES, "none-is-bad");
    for name in SERVICES {
        let service = format!("{prefix}-{name}");
        act(
            d,
            &service,
            Action::Deploy {
                image: deploy(name),
            },
        )
        .await;
        until(d, &service, "canary healthy", |s| {
            s.canary.as_ref().is_some_and(|c| c.healthy() == 1)
        })
        .await;
        act(d, &service, Action::SetWeight { permille: 500 }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        act(d, &service, Action::Promote { force: false }).await;
        let want = stable(name);
        until(d, &service, "promoted", |s| {
            s.phase == Phase::Idle && s.stable.version == want
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = load.stop().await;
    eprintln!("{prefix} under load: {seen}");
    assert_eq!((seen.failed, seen.misrouted), (0, 0), "{seen}");
    assert!(seen.ok > 300, "the load ran throughout: {seen}");
    seen
}

async fn act(d: &RunningFleet, service: &str, action: Action) {
    let client = d.client(service).unwrap();
    let req = ActionRequest {
        action,
        by: Actor::Cli,
        reason: None,
    };
    client
        .act(&req)
        .await
        .unwrap_or_else(|e| panic!("{service}: {e}"));
}

async fn until(
    d: &RunningFleet,
    service: &str,
    what: &str,
    ok: impl Fn(&cutover::model::StateView) -> bool,
) {
    let h = d.service(service).unwrap().controller.clone();
    crate::support::wait::eventually(30, what, || ok(&h.state())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_behind_one_listener_release_one_by_one_under_load() {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let root = tempfile::tempdir().unwrap();
    let d = in_process(&plan(exe), root.path(), Default::default()).await;
    release_each_under_load(&d, "fleet", |n| format!("{n}-v2"), |n| format!("{n}-v2")).await;

    // A host no service claims: a plain 404, never another service.
    let r = crate::support::http()
        .get(format!("http://{}/", d.public_addr))
        .header("host", "elsewhere.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-version").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("no service here answers for this host")
    );

    // The admin API: a request names its service; without a name it says
    // which there are; another service's token does not reach it.
    let admin = format!("http://{}/v1/state", d.admin_addr);
    let shop = d.service("fleet-shop").unwrap();
    let http = crate::support::http();
    let r = http
        .get(&admin)
        .bearer_auth(&shop.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let said = r.text().await.unwrap();
    assert!(
        said.contains("fleet-admin, fleet-api, fleet-shop"),
        "{said}"
    );
    let r = http
        .get(&admin)
        .bearer_auth(&shop.token)
        .header("x-cutover-service", "fleet-api")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "shop's token is not api's");
    let r = http
        .get(format!("http://{}/v1/services", d.admin_addr))
        .bearer_auth(&shop.token)
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list["services"].as_array().unwrap().len(), 3, "{list}");

    // One Prometheus scrape for the whole daemon: every service's series,
    // each family declared once (a second `# TYPE` fails the scrape).
    let text = http
        .get(format!("http://{}/metrics", d.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in SERVICES {
        let weight = format!("cutover_canary_weight_permille{{service=\"fleet-{name}\"}} ");
        assert!(text.contains(&weight), "no {weight}in\n{text}");
    }
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let once: std::collections::HashSet<&&str> = types.iter().collect();
    assert_eq!(types.len(), once.len(), "a family declared twice:\n{text}");

    // Liveness for another daemon asking whether the owner of some
    // replicas is alive: every service's instance is this daemon's.
    for name in SERVICES {
        let dir = root.path().join(format!("fleet-{name}"));
        let id = std::fs::read_to_string(dir.join("instance")).unwrap();
        let other = cutover::runtime::Instance {
            id: id.trim().to_string(),
            admin: d.admin_addr.to_string(),
            state: dir.display().to_string(),
        };
        assert!(cutover::runtime::instance::alive(&other).await, "{name}");
    }

    // The CLI: `status` with no service lists them all; a verb that acts
    // needs one and says which there are; `--service` picks one.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("--state-dir")
            .arg(root.path())
            .args(args)
            .env_remove("CUTOVER_TOKEN")
            .output()
            .unwrap()
    };
    let out = cli(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["services"].as_array().unwrap().len(), 3, "{all}");
    let out = cli(&["pause"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        said.contains("fleet-admin, fleet-api, fleet-shop"),
        "{said}"
    );
    let out = cli(&["--service", "fleet-api", "status", "--json"]);
    let one: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one["service"], "fleet-api", "{one}");
    d.stop().await;
}

/// The three services on the real Docker engine: the demo images, each
/// service's versions named by `DEMO_VERSION` so an answer says whose it is.
fn docker_plan() -> String {
    let mut text = String::from("[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n");
    for name in SERVICES {
        text.push_str(&format!(
            r#"
[[services]]
service = "fleetd-{name}"
hosts = ["{name}.example.test"]
runtime = "docker"
[services.stable]
image = "cutover-demo:v1"
pull = "never"
env = {{ DEMO_VERSION = "{name}-v1" }}
[services.canary]
image = "cutover-demo:v2"
pull = "never"
env = {{ DEMO_VERSION = "{name}-v2" }}
[services.health]
interval = "200ms"
timeout = "200ms"
healthy_after = 1
start_timeout = "60s"
[services.drain]
timeout = "5s"
stop_grace = "2s"
"#
        ));
    }
    text
}

/// The same release of three services, on Docker: 0 failed, 0 misrouted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_docker_services_behind_one_listener_release_under_load() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let id = format!("fleet-{}", std::process::id());
    let _cleanup = crate::support::docker::Cleanup::test(&id);
    let root = tempfile::tempdir().unwrap();
    let labels = [("cutover.test".to_string(), id.clone())].into();
    let d = in_process(&docker_plan(), root.path(), labels).await;
    // An empty deploy: each plan's [canary] (cutover-demo:v2 as SERVICE-v2).
    release_each_under_load(&d, "fleetd", |_| String::new(), |_| "v2".into()).await;
    let before = crate::support::docker::ids(&format!("cutover.test={id}"), false).len();
    assert_eq!(before, 3, "one replica per service, the old ones gone");
    d.stop().await;
}

/// The fleet view in a real terminal: `cutover tui` on the fleet daemon's
/// state root opens on its services, Enter drills into the one releasing,
/// `r` `y` rolls its canary back, Esc returns to the fleet, `q` quits —
/// keyboard only. Skips with a reason when tmux is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_view_drills_in_rolls_back_and_returns() {
    use crate::support::tmux::Tmux;
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let exe = env!("CARGO_BIN_EXE_cutover");
    let root = tempfile::tempdir().unwrap();
    let d = in_process(&plan(exe), root.path(), Default::default()).await;
    act(
        &d,
        "fleet-api",
        Action::Deploy {
            image: "api-v2".into(),
        },
    )
    .await;
    until(&d, "fleet-api", "api's canary healthy", |s| {
        s.canary.as_ref().is_some_and(|c| c.healthy() == 1)
    })
    .await;
    let tmux = Tmux::new("cutover-fleet", "fleet");
    tmux.start(
        160,
        48,
        &format!("exec {exe} --state-dir {} tui", root.path().display()),
    );
    let screen = |what: &str, ok: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let s = tmux.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waiting for {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    };
    let s = screen("the fleet view", &|s| {
        s.contains("cutover fleet") && s.contains("3 services") && s.contains("fleet-shop")
    });
    assert!(
        s.lines().any(|l| l.contains("▸ fleet-api")),
        "the release under way comes first and is selected:\n{s}"
    );
    tmux.keys(&["Enter"]);
    screen("api's cockpit", &|s| {
        s.contains("CANARY api-v2") && s.contains("esc fleet")
    });
    tmux.keys(&["r"]);
    screen("the rollback confirmation", &|s| s.contains("Roll back?"));
    tmux.keys(&["y"]);
    screen("api's canary gone", &|s| s.contains("no canary running"));
    until(&d, "fleet-api", "rolled back on the daemon", |s| {
        s.phase == Phase::Idle && s.canary.is_none()
    })
    .await;
    tmux.keys(&["Escape"]);
    screen("back on the fleet", &|s| {
        s.contains("cutover fleet") && s.contains("fleet-admin")
    });
    tmux.keys(&["q"]);
    d.stop().await;
}
