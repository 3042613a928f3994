//! The CLI verbs that talk to a running daemon: status, weight, deploy,
//! pause, resume, promote, rollback, drain, resize, wait (and, through
//! `train_verbs`, train and approve). Each returns the
//! process exit code: 0 success, 1 refused or failed, 3 daemon unreachable.
//! Their arguments were checked by the command line already (usage
//! mistakes exit 2 before any daemon is looked for).

use super::client::{Client, ClientError};
use super::confirm::{self, Ask};
use crate::cli::{Command, Target, WaitUntil};
use crate::model::{
    Action, ActionRequest, Actor, EventKind, GuardStatus, Outcome, Phase, Role, StateView,
    VersionView,
};
use crate::plan::HumanDuration;
use futures::StreamExt;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::Instant;

/// Run one client verb (a `command` whose [`Command::target`] is `Some`).
pub async fn run(command: &Command, target: &Target) -> u8 {
    if let Some(code) = fleet_status(command, target).await {
        return code;
    }
    let target = &super::train_verbs::target_for(command, target);
    let client = match Client::from_target(target) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cutover: {e}");
            return e.exit_code();
        }
    };
    let result = match command {
        Command::Status(a) => status(&client, a.json).await,
        Command::Weight(a) => {
            let permille = (a.percent * 10.0).round() as u16;
            weight(&client, permille, a.yes).await
        }
        Command::Deploy(a) => {
            // No --canary: the plan's [canary].
            let image = a.canary.clone().unwrap_or_default();
            super::deploy_follow::deploy(&client, &image).await
        }
        Command::Pause(_) => act(&client, Action::Pause, None).await,
        Command::Resume(_) => act(&client, Action::Resume, None).await,
        Command::Promote(a) => {
            let action = Action::Promote { force: a.force };
            confirmed(&client, action, a.yes, a.reason.clone()).await
        }
        Command::Rollback(a) => confirmed(&client, Action::Rollback, a.yes, a.reason.clone()).await,
        Command::Drain(a) => {
            let action = Action::Drain {
                role: a.version.into(),
                force: a.force,
            };
            confirmed(&client, action, a.yes, a.reason.clone()).await
        }
        Command::Logs(a) => logs(&client, a.version.into(), a.tail).await,
        Command::Resize(a) => {
            let action = Action::Resize {
                role: a.version.into(),
                cpus: a.cpus,
                memory: a.memory.map(|m| m.0),
            };
            act(&client, action, None).await
        }
        Command::Scale(a) => {
            let action = Action::Scale {
                role: a.version.into(),
                replicas: a.replicas,
            };
            confirmed(&client, action, a.yes, a.reason.clone()).await
        }
        Command::Wait(a) => wait(&client, a.until, a.timeout).await,
        Command::Train(a) => super::train_verbs::train(&client, a).await,
        Command::Approve(a) => super::train_verbs::approve(&client, a).await,
        other @ (Command::Tui(_)
        | Command::Demo(_)
        | Command::Up(_)
        | Command::Replay(_)
        | Command::Export(_)
        | Command::Backtest(_)
        | Command::Load(_)
        | Command::DemoApp(_)
        | Command::Image { .. }
        | Command::Completions { .. }
        | Command::Man) => {
            eprintln!(
                "cutover: `cutover {}` does not talk to a daemon",
                other.name()
            );
            return 2;
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cutover: {e}");
            e.exit_code()
        }
    }
}

async fn act(client: &Client, action: Action, reason: Option<String>) -> Result<u8, ClientError> {
    let req = ActionRequest {
        action,
        by: Actor::Cli,
        reason,
    };
    match client.act(&req).await {
        Ok(reply) => {
            println!("{}", reply.detail);
            Ok(0)
        }
        Err(ClientError::Refused(r)) => {
            eprintln!("cutover: refused: {}", r.message);
            Ok(1)
        }
        Err(e) => Err(e),
    }
}

/// Ask before a destructive action: `yes` skips; no terminal refuses.
/// A risky one (see [`crate::model::risk`]) asks for the service name
/// instead of y/N, as the cockpit does.
async fn confirmed(
    client: &Client,
    action: Action,
    yes: bool,
    reason: Option<String>,
) -> Result<u8, ClientError> {
    if !yes {
        let state = client.state().await?;
        let risk = crate::model::risk::typed_confirmation(&state, &action);
        if !go_ahead(&describe(&action, &state), Ask::of(risk)) {
            return Ok(1);
        }
    }
    act(client, action, reason).await
}

/// `cutover weight`: at once, unless the jump is risky now; then the
/// service name is asked for (or `--yes` given).
async fn weight(client: &Client, permille: u16, yes: bool) -> Result<u8, ClientError> {
    let action = Action::SetWeight { permille };
    if !yes {
        let state = client.state().await?;
        if let Some(risk) = crate::model::risk::typed_confirmation(&state, &action) {
            let what = format!(
                "set the canary weight {} → {}",
                crate::model::permille_text(state.weight_permille),
                crate::model::permille_text(permille)
            );
            if !go_ahead(&what, Ask::Typed(risk)) {
                return Ok(1);
            }
        }
    }
    act(client, action, None).await
}

/// Ask on the terminal; `false` (said why) when there is none or the
/// answer is not the one asked for.
fn go_ahead(what: &str, ask: Ask) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("cutover: {}", confirm::no_terminal(what, &ask));
        return false;
    }
    let ok = confirm::ask(
        what,
        &ask,
        &mut std::io::stdin().lock(),
        &mut std::io::stderr(),
    );
    if !ok {
        eprintln!("cutover: cancelled, nothing changed");
    }
    ok
}

/// One sentence saying exactly what an action will do, for prompts.
pub fn describe(action: &Action, s: &StateView) -> String {
    let pct = f64::from(s.weight_permille) / 10.0;
    let canary = s.canary.as_ref().map_or_else(
        || "no canary".to_string(),
        |c| {
            format!(
                "{} ({} replica{})",
                c.image,
                c.replicas.len(),
                plural(c.replicas.len())
            )
        },
    );
    let stable = format!(
        "{} ({} replica{})",
        s.stable.image,
        s.stable.replicas.len(),
        plural(s.stable.replicas.len())
    );
    match action {
        Action::Promote { .. } => format!(
            "promote: canary {pct} % → 100 %, drain and remove stable {stable}; canary {canary} becomes stable"
        ),
        Action::Rollback => format!("roll back: canary {pct} % → 0 %, drain and remove {canary}"),
        Action::Drain {
            role: Role::Canary, ..
        } => {
            format!("drain canary: {pct} % → 0 %, finish in-flight requests, remove {canary}")
        }
        Action::Drain {
            role: Role::Stable, ..
        } => format!(
            "drain stable: canary {pct} % → 100 %, finish in-flight requests, remove {stable}"
        ),
        Action::Scale { role, replicas } => {
            let now = s.version(*role).map_or(0, |v| {
                v.replicas.iter().filter(|r| r.status.is_alive()).count()
            });
            format!(
                "{role}: {now} → {replicas} replicas{}",
                if (*replicas as usize) < now {
                    " (the newest leave the pool, finish their requests and stop)"
                } else {
                    ""
                }
            )
        }
        Action::UndoPromote => format!(
            "undo the promotion: stable {stable} keeps serving and gets its traffic back; canary {canary} stays, paused"
        ),
        other => other.name().to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `cutover logs ROLE`: the lines as the daemon cleaned them (no control
/// character of a replica's reaches the terminal), one per line.
async fn logs(client: &Client, role: crate::model::Role, tail: u16) -> Result<u8, ClientError> {
    use std::io::Write;
    let lines = client.logs(role, tail.into()).await?;
    let mut out = std::io::stdout().lock();
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            break; // `| head`: the reader has what it wanted
        }
    }
    Ok(0)
}

async fn status(client: &Client, json: bool) -> Result<u8, ClientError> {
    let s = client.state().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        print!("{}", render_status(&s));
    }
    Ok(0)
}

/// `cutover status` of a daemon with several services, none named: each
/// one's status (`--json`: `{"services": [...]}`), read with the first
/// one's token. `None` for any other verb or daemon.
async fn fleet_status(command: &Command, target: &Target) -> Option<u8> {
    let Command::Status(a) = command else {
        return None;
    };
    let names = crate::state_dir::fleet_services(target)?;
    let json = a.json;
    let mut t = target.clone();
    t.service = names.first().cloned();
    let result = match Client::from_target(&t) {
        Ok(c) => c.services().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(states) if json => {
            let all = serde_json::json!({ "services": states });
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            Some(0)
        }
        Ok(states) => {
            for s in &states {
                print!("{}", render_status(s));
            }
            Some(0)
        }
        Err(e) => {
            eprintln!("cutover: {e}");
            Some(e.exit_code())
        }
    }
}

/// The human `cutover status`.
pub fn render_status(s: &StateView) -> String {
    let mut out = format!(
        "{}  phase {}  runtime {}  canary weight {:.1} %  (public http://{})\n",
        s.service,
        s.phase,
        s.runtime,
        f64::from(s.weight_permille) / 10.0,
        s.public_addr
    );
    let line = |v: &VersionView| {
        let st = &v.stats;
        format!(
            "  {:<6} {:<18} {}/{} healthy  {:>7.1} req/s  err {}  p50 {}  p99 {}\n",
            v.role.as_str(),
            v.version,
            v.healthy(),
            v.replicas.len(),
            st.rps,
            st.error_rate
                .map_or("–".into(), |r| format!("{:.2} %", r * 100.0)),
            st.p50_ms.map_or("–".into(), |p| format!("{p:.1} ms")),
            st.p99_ms.map_or("–".into(), |p| format!("{p:.1} ms")),
        )
    };
    out += &line(&s.stable);
    if let Some(c) = &s.canary {
        out += &line(c);
    }
    if let Some(step) = &s.step {
        out += &format!(
            "  step {}/{} at {:.1} %",
            step.index + 1,
            step.total,
            f64::from(step.weight_permille) / 10.0
        );
        if let Some(ms) = step.bake_remaining_ms {
            out += &format!(", baking {:.0} s more", ms as f64 / 1000.0);
        }
        out += "\n";
    }
    for g in &s.guards {
        let word = match g.status {
            GuardStatus::Pass => "pass",
            GuardStatus::NotJudged => "not judged",
            GuardStatus::Breach => "BREACH",
            GuardStatus::Muted => "muted",
        };
        out += &format!("  guard {:<19} {:<10} {}\n", g.name, word, g.detail);
    }
    if let Some(n) = s.failed_requests {
        out += &format!("  failed requests this release (canary): {n}\n");
    }
    if let Some(f) = &s.freeze {
        out += &format!("  freeze in force: {f}\n");
    }
    if let Some(b) = &s.last_breach {
        out += &format!(
            "  last breach: {} ({}) at {}\n",
            b.guard,
            b.detail,
            b.at.format("%H:%M:%S")
        );
    }
    out
}

/// `cutover wait --until …`: 0 when the awaited outcome happened (also when
/// it happened before `wait` started: the first snapshot says how the latest
/// release ended), 1 when the release ended otherwise or the timeout passed,
/// 3 when the daemon cannot be reached. A stream that lags or drops is
/// judged again from the next snapshot, and a dropped stream is reconnected
/// until the timeout (the daemon may be restarting).
async fn wait(
    client: &Client,
    until: WaitUntil,
    timeout: HumanDuration,
) -> Result<u8, ClientError> {
    let deadline = Instant::now() + timeout.get();
    let mut connected = false;
    let mut last_err: Option<ClientError> = None;
    let mut last_phase: Option<Phase> = None;
    while Instant::now() < deadline {
        let mut events = match tokio::time::timeout_at(deadline, client.events()).await {
            Err(_) => break,
            Ok(Ok(ev)) => {
                connected = true;
                last_err = None;
                ev
            }
            Ok(Err(e)) if !connected => return Err(e),
            Ok(Err(e)) => {
                last_err = Some(e);
                tokio::time::sleep_until(deadline.min(Instant::now() + RETRY)).await;
                continue;
            }
        };
        loop {
            let next = match tokio::time::timeout_at(deadline, events.next()).await {
                Err(_) => break,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    last_err = Some(e);
                    break;
                }
                Ok(Some(Ok(ev))) => ev,
            };
            let verdict = match &next.kind {
                EventKind::Snapshot { state } => {
                    last_phase = Some(state.phase);
                    judge(until, state)
                }
                // The release may have ended: judge the state it left.
                EventKind::Phase {
                    to: Phase::Idle | Phase::Failed,
                    ..
                } => match client.state().await {
                    Ok(state) => {
                        last_phase = Some(state.phase);
                        judge(until, &state)
                    }
                    Err(_) => None,
                },
                EventKind::Phase { to, .. } => {
                    last_phase = Some(*to);
                    None
                }
                _ => None,
            };
            if let Some((code, why)) = verdict {
                if code != 0 {
                    eprintln!("cutover: {why}");
                } else {
                    println!("{why}");
                }
                return Ok(code);
            }
        }
        if Instant::now() < deadline {
            tokio::time::sleep_until(deadline.min(Instant::now() + RETRY)).await;
        }
    }
    if let Some(e @ ClientError::Unreachable { .. }) = last_err {
        eprintln!("cutover: timed out after {timeout} waiting; the daemon is unreachable");
        return Err(e);
    }
    eprintln!(
        "cutover: timed out after {timeout} waiting for {}{}",
        until_word(until),
        last_phase.map_or_else(String::new, |p| format!(" (phase {p})"))
    );
    Ok(1)
}

/// Pause between reconnects of `wait`.
const RETRY: Duration = Duration::from_millis(250);

fn until_word(until: WaitUntil) -> &'static str {
    match until {
        WaitUntil::Promoted => "promoted",
        WaitUntil::RolledBack => "rolled-back",
        WaitUntil::Idle => "idle",
    }
}

/// What `wait --until` makes of one state: `Some((0, …))` the awaited outcome
/// happened, `Some((1, …))` the release ended otherwise, `None` keep waiting
/// (a release is under way, or none has ended yet).
pub fn judge(until: WaitUntil, s: &StateView) -> Option<(u8, String)> {
    let release = s.release;
    let ended = |o: Outcome| format!("release {release} ended {o} (phase {})", s.phase);
    match (s.phase, until, s.last_outcome) {
        (Phase::Idle, WaitUntil::Idle, _) => Some((0, format!("idle (release {release})"))),
        (Phase::Idle, WaitUntil::Promoted, Some(Outcome::Promoted))
        | (Phase::Idle, WaitUntil::RolledBack, Some(Outcome::RolledBack)) => {
            Some((0, ended(s.last_outcome?)))
        }
        (Phase::Idle | Phase::Failed, _, Some(o)) => {
            Some((1, format!("the release ended otherwise: {}", ended(o))))
        }
        (Phase::Failed, _, None) => Some((
            1,
            format!("the release ended otherwise: release {release} failed"),
        )),
        _ => None,
    }
}
