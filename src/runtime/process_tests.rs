//! Tests of `process.rs`, kept beside it so the file itself reads as code.

//! Real child processes (`sh`, `sleep`), real signals.
use super::*;
use crate::model::Role;
use crate::runtime::{EXIT_CODE_UNKNOWN, exit_detail};

/// Kills a replica's process group when dropped: a test that fails (or a
/// runtime that was forgotten, as a killed daemon is) leaves nothing
/// running.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// Poll `ok` every 20 ms for at most 10 s; what it returned last.
async fn eventually<T>(mut get: impl AsyncFnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = get().await;
        if ok(&got) || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spec(service: &str, script: &str, replicas: u32) -> VersionSpec {
    VersionSpec {
        service: service.into(),
        role: Role::Canary,
        release: 1,
        version: "v2".into(),
        image: None,
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        upstreams: vec![],
        replicas,
        port: 0,
        env: BTreeMap::new(),
        cpus: None,
        memory: None,
        labels: BTreeMap::new(),
        pull: Default::default(),
        pinned: None,
        pass_env: vec!["PATH".into()],
        hardening: Default::default(),
    }
}

fn service(name: &str) -> String {
    format!("unit-{name}-{}", std::process::id())
}

async fn exit_of(events: &mut broadcast::Receiver<RuntimeEvent>, id: &str) -> i64 {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(RuntimeEvent::Exited { id: got, code, .. }) = events.recv().await
                && got == id
            {
                return code;
            }
        }
    })
    .await
    .expect("an exit event")
}

#[tokio::test]
async fn a_process_that_ignores_sigterm_is_killed_after_the_grace() {
    let rt = Arc::new(ProcessRuntime::new());
    let mut events = rt.subscribe();
    // The trap is a handler, so SIGTERM is seen (and said) but not obeyed.
    let script = "trap 'echo got-term' TERM; while :; do sleep 0.05; done";
    let r = rt
        .start(&spec(&service("ignore"), script, 1))
        .await
        .unwrap();
    let r = r[0].clone();
    let pid = pid_of(&r.id).unwrap();
    let stop = {
        let (rt, r) = (rt.clone(), r.clone());
        tokio::spawn(async move { rt.stop(&r, Duration::from_secs(2)).await })
    };
    // SIGTERM arrived…
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !rt
        .logs(&r, 10)
        .await
        .unwrap()
        .iter()
        .any(|l| l == "got-term")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "SIGTERM never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …and it still runs: the grace is not over.
    assert!(alive(pid), "still running just after SIGTERM");
    assert!(!stop.is_finished(), "stop waits out the grace");
    tokio::time::timeout(Duration::from_secs(5), stop)
        .await
        .expect("stop returns after grace + kill")
        .unwrap()
        .unwrap();
    assert!(!alive(pid), "gone after the grace");
    assert_eq!(exit_of(&mut events, &r.id).await, 137, "killed");
    rt.remove(&r).await.unwrap();
}

#[tokio::test]
async fn a_process_that_exits_on_sigterm_keeps_its_own_code() {
    let rt = ProcessRuntime::new();
    let mut events = rt.subscribe();
    let r = rt
        .start(&spec(&service("obey"), "exec sleep 60", 1))
        .await
        .unwrap();
    rt.stop(&r[0], Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        exit_of(&mut events, &r[0].id).await,
        143,
        "SIGTERM, not SIGKILL"
    );
    let r2 = rt
        .start(&spec(
            &service("obey0"),
            "trap 'exit 0' TERM; while :; do sleep 0.05; done",
            1,
        ))
        .await
        .unwrap();
    rt.stop(&r2[0], Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        exit_of(&mut events, &r2[0].id).await,
        0,
        "its own exit code"
    );
}

#[tokio::test]
async fn an_adopted_process_is_watched_and_its_exit_reported() {
    let svc = service("adopt");
    let dir = tempfile::tempdir().unwrap();
    let first = ProcessRuntime::with_log_dir(dir.path().into());
    let r = first
        .start(&spec(&svc, "echo before; exec sleep 60", 1))
        .await
        .unwrap();
    let r = r[0].clone();
    let _reap = Reap(pid_of(&r.id).unwrap());
    // As if its daemon was killed with SIGKILL: the Drop that kills the
    // children never runs.
    std::mem::forget(first);
    let second = ProcessRuntime::with_log_dir(dir.path().into());
    let mut events = second.subscribe();
    let listed = second.list(&svc).await.unwrap();
    assert_eq!(listed, vec![r.clone()], "adopted from /proc");
    assert_eq!(
        second.logs(&r, 5).await.unwrap(),
        ["before"],
        "what it said to the earlier daemon"
    );
    nix::sys::signal::kill(Pid::from_raw(pid_of(&r.id).unwrap()), Signal::SIGKILL).unwrap();
    let code = exit_of(&mut events, &r.id).await;
    assert_eq!(code, EXIT_CODE_UNKNOWN);
    assert_eq!(
        exit_detail(code, false),
        "exited (code unknown: not our child)"
    );
    assert!(
        second.list(&svc).await.unwrap().is_empty(),
        "no longer listed"
    );
}

/// What /proc holds is anyone's to write: a process of another user, or
/// of another instance, that claims to be a replica of this service is
/// never adopted (the other instance's is reported as its claim).
#[tokio::test]
async fn only_our_users_and_instances_processes_are_adopted() {
    use std::os::unix::process::CommandExt;
    let svc = service("claims");
    let claim = |cmd: &mut std::process::Command, instance: Option<&str>| {
        cmd.arg("60")
            .env("CUTOVER_SERVICE", &svc)
            .env("CUTOVER_ROLE", "stable")
            .env("CUTOVER_RELEASE", "0")
            .env("CUTOVER_ADDR", "127.0.0.1:1")
            .process_group(0);
        if let Some(id) = instance {
            cmd.env("CUTOVER_INSTANCE", id)
                .env("CUTOVER_STATE", "/elsewhere/shop");
        }
    };
    let mut started = Vec::new();
    if nix::unistd::geteuid().is_root() {
        let mut nobody = std::process::Command::new("sleep");
        claim(&mut nobody, None);
        started.push(nobody.uid(65534).gid(65534).spawn().unwrap());
    } else {
        eprintln!("(not root: another user's process is not tried)");
    }
    let mut other = std::process::Command::new("sleep");
    claim(&mut other, Some("0ther"));
    started.push(other.spawn().unwrap());
    let mut mine = std::process::Command::new("sleep");
    claim(&mut mine, Some("mine"));
    started.push(mine.spawn().unwrap());
    let mine_id = format!("pid:{}", started.last().unwrap().id());
    let other_id = format!("pid:{}", started[started.len() - 2].id());

    let rt = ProcessRuntime::new();
    rt.bind_instance(&Instance {
        id: "mine".into(),
        ..Instance::default()
    });
    let inv = rt.inventory(&svc).await.unwrap();
    // Started by hand (as by a cutover from before replica log files).
    let no_file = match inv.running.first() {
        Some(r) => rt.logs(r, 5).await.unwrap(),
        None => Vec::new(),
    };
    for c in &mut started {
        let _ = c.kill();
        let _ = c.wait();
    }
    let running: Vec<&str> = inv.running.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(running, vec![mine_id.as_str()], "only ours is adopted");
    assert!(
        no_file.len() == 1 && no_file[0].contains("has no log file"),
        "{no_file:?}"
    );
    assert_eq!(inv.others.len(), 1, "{:?}", inv.others);
    assert_eq!(inv.others[0].instance.id, "0ther");
    assert_eq!(inv.others[0].replicas, vec![other_id]);
    assert!(
        inv.foreign[0].contains("belong to another cutover"),
        "{:?}",
        inv.foreign
    );
}

#[tokio::test]
async fn a_child_that_exits_at_once_is_tried_twice_then_refused() {
    let svc = service("quick");
    let rt = ProcessRuntime::new();
    let err = rt
        .start(&spec(&svc, "echo cannot-bind-$PORT >&2; exit 3", 1))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::CreateRefused(_)), "{text}");
    assert!(
        text.contains("exited 3") && text.contains("twice"),
        "{text}"
    );
    assert_eq!(
        text.matches("cannot-bind-").count(),
        2,
        "both attempts' output: {text}"
    );
    assert!(rt.list(&svc).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_replica_takes_the_started_ones_down_with_it() {
    let svc = service("partial");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("one");
    // Only the first replica to take the lock runs; the other exits 3.
    let script = format!(
        "mkdir {} 2>/dev/null || exit 3; exec sleep 60",
        lock.display()
    );
    let rt = ProcessRuntime::new();
    let err = rt.start(&spec(&svc, &script, 2)).await.unwrap_err();
    assert!(err.to_string().contains("exited 3"), "{err}");
    assert!(lock.exists(), "one replica did start");
    assert!(
        rt.list(&svc).await.unwrap().is_empty(),
        "the started replica was stopped with the failed start"
    );
    assert!(
        scan_proc(&svc, None).0.is_empty(),
        "no process of it is left"
    );
}

/// The number in the newest `out N` or `err N` line.
fn newest(lines: &[String]) -> Option<u64> {
    lines
        .iter()
        .rev()
        .find_map(|l| l.split_once(' ')?.1.parse().ok())
}

/// A replica writes a line to stdout and one to stderr every 20 ms, and
/// stops at the first write that fails (as a program dies of EPIPE). Its
/// daemon goes away without a word (a tokio runtime of its own shut down,
/// the `ProcessRuntime` forgotten: every task it ran ends, no Drop runs):
/// the replica lives on and keeps writing, and the next daemon adopts it
/// and reads what it wrote before and after.
#[test]
fn a_replica_outlives_its_daemon_and_the_next_one_reads_its_output() {
    let svc = service("outlive");
    let dir = tempfile::tempdir().unwrap();
    let script =
        "i=0; while echo \"out $i\" && echo \"err $i\" >&2; do i=$((i+1)); sleep 0.02; done";
    let daemon = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first_daemon = daemon();
    let first = ProcessRuntime::with_log_dir(dir.path().into());
    let (r, _reap, before) = first_daemon.block_on(async {
        let r = first.start(&spec(&svc, script, 1)).await.unwrap().remove(0);
        let reap = Reap(pid_of(&r.id).unwrap());
        let get = async || first.logs(&r, 10).await.unwrap();
        let lines = eventually(get, |l| newest(l).is_some_and(|n| n >= 3)).await;
        assert!(lines.iter().any(|l| l.starts_with("out ")), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with("err ")), "{lines:?}");
        (r, reap, newest(&lines).unwrap())
    });
    std::mem::forget(first);
    drop(first_daemon);
    let pid = pid_of(&r.id).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(pid), "the replica outlived its daemon");

    daemon().block_on(async {
        let second = ProcessRuntime::with_log_dir(dir.path().into());
        assert_eq!(second.list(&svc).await.unwrap(), vec![r.clone()], "adopted");
        // 500 ms at a line every 20 ms: it wrote on while no daemon ran.
        let get = async || second.logs(&r, 1000).await.unwrap();
        let lines = eventually(get, |l| newest(l).is_some_and(|n| n > before + 25)).await;
        assert!(
            newest(&lines).is_some_and(|n| n > before + 25),
            "nothing new after {before}: {:?}",
            &lines[lines.len().saturating_sub(5)..]
        );
        let said = |l: String| lines.contains(&l);
        assert!(
            said(format!("out {before}")) && said(format!("err {before}")),
            "before"
        );
        second.remove(&r).await.unwrap();
        assert!(!second.logs.live(pid).exists(), "its log file went with it");
    });
}

/// A replica writes far past a small cap, as fast as a shell can: its files
/// stay within the cap once it pauses, the oldest lines are gone, the
/// newest ones are read in order, and what it writes after is read whole.
#[tokio::test]
async fn a_chatty_replicas_files_stay_bounded_and_its_latest_lines_are_read() {
    let svc = service("chatty");
    let (logs, marks) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cap = 16 << 10;
    let every = Duration::from_millis(20);
    let rt = ProcessRuntime::with_logs(LogDir::new(logs.path().into()).limits(cap, every));
    let (burst, go) = (marks.path().join("burst"), marks.path().join("go"));
    let script = format!(
        "i=0; while [ $i -lt 40000 ]; do echo \"line $i\"; i=$((i+1)); done; touch {}; \
         while [ ! -e {} ]; do sleep 0.02; done; echo after-1; echo after-2 >&2; exec sleep 60",
        burst.display(),
        go.display()
    );
    let r = rt.start(&spec(&svc, &script, 1)).await.unwrap().remove(0);
    let pid = pid_of(&r.id).unwrap();
    let _reap = Reap(pid);
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let sizes = async || {
        let done = burst.exists();
        (done, size(rt.logs.live(pid)), size(rt.logs.rotated(pid)))
    };
    let (done, live, old) = eventually(sizes, |&(done, live, old)| {
        done && live <= cap && old > 0 && old <= cap
    })
    .await;
    assert!(done, "the burst never ended");
    assert!(
        live <= cap && old <= cap,
        "live {live} B, .1 {old} B, cap {cap} B"
    );

    let all = rt.logs(&r, 100_000).await.unwrap();
    assert!(
        !all.contains(&"line 0".to_string()),
        "the oldest lines are gone"
    );
    let numbers: Vec<u64> = rt
        .logs(&r, 20)
        .await
        .unwrap()
        .iter()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{l:?}"))
        })
        .collect();
    assert_eq!(numbers.len(), 20, "{numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order: {numbers:?}"
    );
    assert!(numbers[19] >= 39_900, "the newest: {numbers:?}");

    std::fs::write(&go, "").unwrap();
    let get = async || rt.logs(&r, 2).await.unwrap();
    let after = eventually(get, |l| l.len() == 2 && l[1] == "after-2").await;
    assert_eq!(after, ["after-1", "after-2"]);
    rt.remove(&r).await.unwrap();
    assert_eq!(
        std::fs::read_dir(logs.path()).unwrap().count(),
        0,
        "its files went with it"
    );
}
