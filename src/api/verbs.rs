//! The CLI verbs that talk to a running daemon: status, weight, deploy,
//! pause, resume, promote, rollback, drain, wait. Each returns the process
//! exit code: 0 success, 1 refused or failed, 3 daemon unreachable.

use super::client::{Client, ClientError};
use crate::cli::{Command, ConfirmArgs, DrainTarget, Target, WaitUntil};
use crate::model::{
    Action, ActionRequest, Actor, EventKind, GuardStatus, Phase, Role, StateView, VersionView,
};
use crate::plan::HumanDuration;
use futures::StreamExt;
use std::io::{BufRead, IsTerminal, Write};

/// Run one client verb; `None` when `command` is not a client verb.
pub async fn run(command: &Command, target: &Target) -> Option<u8> {
    let client = match Client::from_target(target) {
        Ok(c) => c,
        Err(e) => {
            if is_client_verb(command) {
                eprintln!("cutover: {e}");
                return Some(e.exit_code());
            }
            return None;
        }
    };
    let result = match command {
        Command::Status { json } => status(&client, *json).await,
        Command::Weight { percent } => {
            if !percent.is_finite() || !(0.0..=100.0).contains(percent) {
                eprintln!("cutover: weight {percent} is out of range (0..=100 percent)");
                return Some(2);
            }
            let permille = (percent * 10.0).round() as u16;
            act(&client, Action::SetWeight { permille }, None).await
        }
        Command::Deploy { canary } => {
            act(
                &client,
                Action::Deploy {
                    image: canary.clone(),
                },
                None,
            )
            .await
        }
        Command::Pause => act(&client, Action::Pause, None).await,
        Command::Resume => act(&client, Action::Resume, None).await,
        Command::Promote(c) => confirmed(&client, Action::Promote { force: c.force }, c).await,
        Command::Rollback(c) => confirmed(&client, Action::Rollback, c).await,
        Command::Drain { version, yes } => {
            let role = match version {
                DrainTarget::Stable => Role::Stable,
                DrainTarget::Canary => Role::Canary,
            };
            let c = ConfirmArgs {
                yes: *yes,
                force: false,
                reason: None,
            };
            confirmed(&client, Action::Drain { role }, &c).await
        }
        Command::Wait { until, timeout } => wait(&client, *until, timeout).await,
        _ => return None,
    };
    Some(match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cutover: {e}");
            e.exit_code()
        }
    })
}

fn is_client_verb(c: &Command) -> bool {
    matches!(
        c,
        Command::Status { .. }
            | Command::Weight { .. }
            | Command::Deploy { .. }
            | Command::Pause
            | Command::Resume
            | Command::Promote(_)
            | Command::Rollback(_)
            | Command::Drain { .. }
            | Command::Wait { .. }
    )
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

/// Ask before a destructive action: `--yes` skips; no terminal refuses.
async fn confirmed(client: &Client, action: Action, c: &ConfirmArgs) -> Result<u8, ClientError> {
    if c.force && c.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        eprintln!("cutover: --force needs --reason TEXT (it is recorded in the journal)");
        return Ok(2);
    }
    if !c.yes {
        let state = client.state().await?;
        let what = describe(&action, &state);
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "cutover: refusing to {what} without confirmation: no terminal to ask on (pass --yes)"
            );
            return Ok(1);
        }
        eprint!("{what}\nProceed? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            eprintln!("cutover: cancelled, nothing changed");
            return Ok(1);
        }
    }
    act(client, action, c.reason.clone()).await
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
        Action::Drain { role: Role::Canary } => {
            format!("drain canary: {pct} % → 0 %, finish in-flight requests, remove {canary}")
        }
        Action::Drain { role: Role::Stable } => format!(
            "drain stable: canary {pct} % → 100 %, finish in-flight requests, remove {stable}"
        ),
        other => other.name().to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
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
        out += &format!("  guard {:<15} {:<10} {}\n", g.name, word, g.detail);
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

/// `cutover wait --until …`: 0 when the awaited outcome happens, 1 when
/// another outcome happens or the timeout passes.
async fn wait(client: &Client, until: WaitUntil, timeout: &str) -> Result<u8, ClientError> {
    let timeout: HumanDuration = match timeout.parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cutover: --timeout: {e}");
            return Ok(2);
        }
    };
    let outcome = tokio::time::timeout(timeout.get(), async {
        let mut events = client.events().await?;
        while let Some(ev) = events.next().await {
            let ev = ev?;
            match (&ev.kind, until) {
                (EventKind::Snapshot { state }, WaitUntil::Idle) if state.phase == Phase::Idle => {
                    return Ok(0);
                }
                (
                    EventKind::Phase {
                        from: Phase::Promoting,
                        to: Phase::Idle,
                        ..
                    },
                    WaitUntil::Promoted,
                ) => return Ok(0),
                (
                    EventKind::Phase {
                        from: Phase::RollingBack,
                        to: Phase::Idle,
                        ..
                    },
                    WaitUntil::RolledBack,
                ) => return Ok(0),
                (
                    EventKind::Phase {
                        to: Phase::Idle, ..
                    },
                    WaitUntil::Idle,
                ) => return Ok(0),
                (
                    EventKind::Phase {
                        from: Phase::Promoting,
                        to: Phase::Idle,
                        ..
                    },
                    _,
                )
                | (
                    EventKind::Phase {
                        from: Phase::RollingBack,
                        to: Phase::Idle,
                        ..
                    },
                    _,
                )
                | (
                    EventKind::Phase {
                        to: Phase::Failed, ..
                    },
                    _,
                ) => {
                    if let EventKind::Phase { from, to, .. } = &ev.kind {
                        eprintln!("cutover: the release ended otherwise ({from} → {to})");
                    }
                    return Ok(1);
                }
                _ => {}
            }
        }
        Err(ClientError::Protocol(
            "the daemon closed the event stream".into(),
        ))
    })
    .await;
    match outcome {
        Ok(r) => r,
        Err(_) => {
            eprintln!("cutover: timed out after {timeout} waiting");
            Ok(1)
        }
    }
}
