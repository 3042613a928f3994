//! A daemon trusts only a state directory it owns (docs/SECURITY.md,
//! "Another local user"). As root (these tests chown to `nobody`, uid
//! 65534, and skip with a reason when not run as root): a service directory
//! or a state root owned by another user is refused before anything in it
//! is read or written, so a token planted there is never accepted; a
//! `daemon.lock` that is a symbolic link is refused and the file it points
//! at stays untouched; a token others can read is refused; each refusal
//! says how to fix it. And after a normal start every file of the state
//! directory is 0600, its directory 0700.

use crate::support::proxy::Upstream;
use crate::support::up::{Up, mode};
use cutover::daemon::DaemonConfig;
use cutover::model::{Action, ActionRequest, Actor, Phase};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: these tests chown files to another user, which needs root");
    false
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A static plan that starts nothing anywhere (the refusals come first).
fn plan(service: &str) -> cutover::plan::Plan {
    cutover::plan::parse(
        &format!(
            "service = \"{service}\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[stable]\nupstreams = [\"127.0.0.1:9\"]\n"
        ),
        "trust.toml",
    )
    .unwrap()
}

/// Start a daemon in this process on `root`; the refusal's text.
async fn refused(root: &Path, service: &str) -> String {
    match cutover::daemon::start(DaemonConfig::new(plan(service), root.to_path_buf())).await {
        Ok(d) => {
            d.stop().await;
            panic!("the daemon started on {}", root.display())
        }
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_state_directory_owned_by_another_user_is_refused() {
    if !root_or_skip() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("shop");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    // Planted by `nobody`: a token of its choosing.
    let planted = "ab".repeat(32);
    std::fs::write(dir.join("token"), &planted).unwrap();
    chmod(&dir.join("token"), 0o600);
    chown(&dir.join("token"), NOBODY);
    chown(&dir, NOBODY);

    let text = refused(root.path(), "shop").await;
    assert!(
        text.contains(&format!(
            "state directory {} belongs to uid 65534",
            dir.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Fix: `chown 0 {}`", dir.display())),
        "{text}"
    );
    for never in ["daemon.lock", "admin.addr", "instance", "journal.jsonl"] {
        assert!(!dir.join(never).exists(), "{never} was written");
    }
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), planted);

    // The binary says the same on stderr and exits non-zero.
    let mut up = Up::new(
        "shop",
        "service = \"shop\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[stable]\nupstreams = [\"127.0.0.1:9\"]\n",
    );
    std::fs::create_dir_all(up.state()).unwrap();
    chmod(&up.state(), 0o700);
    chown(&up.state(), NOBODY);
    up.spawn(&[]);
    let status = up.exited(30).await;
    assert!(!status.success());
    let said = up.stderr();
    assert!(
        said.contains("belongs to uid 65534") && said.contains("chown"),
        "{said}"
    );
}

#[tokio::test]
async fn a_state_root_others_control_is_refused() {
    if !root_or_skip() {
        return;
    }
    // Owned by another user: they could swap the service directory.
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    chown(root.path(), NOBODY);
    let text = refused(root.path(), "shop").await;
    assert!(
        text.contains(&format!(
            "state root {} belongs to uid 65534",
            root.path().display()
        )),
        "{text}"
    );
    assert!(!root.path().join("shop").exists(), "nothing made inside");

    // Writable by everyone and not sticky: anyone could rename our directory.
    let open = tempfile::tempdir().unwrap();
    chmod(open.path(), 0o777);
    let text = refused(open.path(), "shop").await;
    assert!(
        text.contains("can be written by group or others (mode 0777)")
            && text.contains(&format!("Fix: `chmod go-w {}`", open.path().display())),
        "{text}"
    );
    // Sticky, like /tmp: others cannot touch what we create in it.
    chmod(open.path(), 0o1777);
    let d = cutover::daemon::start(DaemonConfig::new(plan("shop"), open.path().to_path_buf()))
        .await
        .expect("a sticky shared root is fine");
    assert_eq!(mode(&open.path().join("shop")), 0o700);
    d.stop().await;

    // A service directory others may write is refused too.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("shop");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o775);
    let text = refused(root.path(), "shop").await;
    assert!(
        text.contains("mode 0775") && text.contains(&format!("Fix: `chmod 700 {}`", dir.display())),
        "{text}"
    );
}

#[tokio::test]
async fn a_symlinked_lock_or_token_is_refused_and_its_target_untouched() {
    if !root_or_skip() {
        return;
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let precious = elsewhere.path().join("precious");
    std::fs::write(&precious, "root's own data\n").unwrap();
    chmod(&precious, 0o600);

    for name in ["daemon.lock", "token"] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shop");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        std::os::unix::fs::symlink(&precious, dir.join(name)).unwrap();
        let text = refused(root.path(), "shop").await;
        let link = dir.join(name);
        assert!(
            text.contains(&format!(
                "{} is a symbolic link (to {})",
                link.display(),
                precious.display()
            )) && text.contains(&format!("Fix: `rm {}`", link.display())),
            "{name}: {text}"
        );
        assert_eq!(
            std::fs::read_to_string(&precious).unwrap(),
            "root's own data\n",
            "{name}: the target was written"
        );
        assert_eq!(mode(&precious), 0o600, "{name}: the target's mode changed");
    }
}

#[tokio::test]
async fn a_token_others_can_read_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("shop");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let token = "cd".repeat(32);
    std::fs::write(dir.join("token"), &token).unwrap();
    chmod(&dir.join("token"), 0o644);
    let text = refused(root.path(), "shop").await;
    assert!(
        text.contains("can be read by group or others (mode 0644)")
            && text.contains(&format!("`chmod 600 {}`", dir.join("token").display())),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);
    assert_eq!(mode(&dir.join("token")), 0o644, "left as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_is_private_after_a_normal_start() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let plan = format!(
        "service = \"shop\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nupstreams = [\"{}\"]\n[canary]\nupstreams = [\"{}\"]\n\
         [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n",
        stable.addr, canary.addr
    );
    let mut up = Up::start("shop", &plan, &[]);
    let client = up.client(30).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.state().await.map(|s| s.phase).ok() != Some(Phase::Canary) {
        assert!(Instant::now() < deadline, "no canary:\n{}", up.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two saves: the state file and its previous copy.
    for permille in [100, 200] {
        client
            .act(&ActionRequest {
                action: Action::SetWeight { permille },
                by: Actor::Cli,
                reason: Some("mode check".into()),
            })
            .await
            .unwrap();
    }
    let instance = std::fs::read_to_string(up.state().join("instance")).unwrap();
    assert!(up.stop().await.success(), "{}", up.stderr());

    let dir = up.state();
    assert_eq!(mode(&dir), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for must in [
        "cutover.log",
        "daemon.lock",
        "instance",
        "journal.jsonl",
        "public.addr",
        "state.json",
        "state.json.prev",
        "token",
    ] {
        assert!(names.iter().any(|n| n == must), "no {must} in {names:?}");
    }
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name} in {names:?}");
    }

    // A file an older cutover left readable is closed on the next start;
    // the instance id is kept.
    chmod(&dir.join("journal.jsonl"), 0o644);
    chmod(&dir.join("state.json"), 0o644);
    up.spawn(&[]);
    let client = up.client(30).await;
    client.state().await.unwrap();
    assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&dir.join("state.json")), 0o600);
    assert_eq!(
        std::fs::read_to_string(dir.join("instance")).unwrap(),
        instance
    );
    assert!(up.stop().await.success());
}
