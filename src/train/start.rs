//! Whether a train may start, decided before anything starts: the file
//! parses against this daemon's services, no other train runs, every
//! entry is approved (the list is snapshotted into the train), every
//! service is at rest, and none is inside a freeze window unless the
//! train is forced with a reason. Then what each service runs now is
//! recorded, for an abort to return it there.

use super::decide::stable_replicas;
use super::model::{Approval, Entry, EntryPhase, Previous, Train, TrainStatus};
use crate::model::{Phase, StateView};
use crate::plan::train::{TrainSpec, parse_train};
use crate::plan::{Freeze, Plan, RuntimeKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /v1/train`: a train file's text, and whether to force it
/// through freeze windows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The file's name as the operator gave it (errors name it).
    pub file: String,
    pub text: String,
    #[serde(default)]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who starts it (the CLI sends the OS user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Why a train did not start; nothing was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartRefusal {
    /// `invalid_train`, `train_running`, `unapproved`, `busy`, `frozen`,
    /// `reason_required`.
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: String) -> StartRefusal {
    StartRefusal { code, message }
}

/// One service as the start check sees it.
pub struct ServiceNow<'a> {
    pub name: &'a str,
    pub plan: &'a Plan,
    pub view: StateView,
}

/// The train `req` starts, or why not.
pub fn plan_train(
    req: &StartRequest,
    services: &[ServiceNow<'_>],
    approvals: &[Approval],
    running: Option<&Train>,
    id: u64,
    now: DateTime<Utc>,
) -> Result<Train, StartRefusal> {
    let known: Vec<String> = services.iter().map(|s| s.name.to_string()).collect();
    let spec = parse_train(&req.text, &req.file, Some(&known))
        .map_err(|e| refuse("invalid_train", e.to_string()))?;
    if let Some(t) = running.filter(|t| !t.status.is_over()) {
        return Err(refuse(
            "train_running",
            format!(
                "train {} is still {:?}: one train at a time (cutover train status)",
                t.id, t.status
            ),
        ));
    }
    let service = |name: &str| services.iter().find(|s| s.name == name);
    let snapshot = approved(&spec, approvals)?;
    let mut busy = Vec::new();
    for e in &spec.entries {
        let v = &service(&e.service)
            .expect("parsed against these services")
            .view;
        if !matches!(v.phase, Phase::Idle | Phase::Failed) {
            busy.push(format!(
                "{} (phase {}, release {})",
                e.service, v.phase, v.release
            ));
        }
    }
    if !busy.is_empty() {
        return Err(refuse(
            "busy",
            format!(
                "mid-release: {}; a train starts from services at rest, nothing started",
                busy.join(", ")
            ),
        ));
    }
    let overridden = freezes(&spec, &service, req, now)?;
    let by = req
        .by
        .clone()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "api".into());
    let prev = |name: &str| {
        let s = service(name).expect("parsed against these services");
        previous(s.plan, &s.view)
    };
    let mut t = new_train(
        id,
        &req.file,
        spec,
        &by,
        req.reason.clone(),
        snapshot,
        prev,
        now,
    );
    t.forced = req.force;
    t.overridden = overridden;
    Ok(t)
}

/// The approvals of every entry (what the train keeps), or a refusal
/// naming each entry without one.
fn approved(spec: &TrainSpec, approvals: &[Approval]) -> Result<Vec<Approval>, StartRefusal> {
    let mut snapshot = Vec::new();
    let mut unapproved = Vec::new();
    for e in &spec.entries {
        match approvals
            .iter()
            .find(|a| a.service == e.service && a.image == e.image)
        {
            Some(a) => snapshot.push(a.clone()),
            None => unapproved.push(format!("{} {}", e.service, e.image)),
        }
    }
    if !unapproved.is_empty() {
        return Err(refuse(
            "unapproved",
            format!(
                "not approved: {}; nothing started (approve each with `cutover approve SERVICE IMAGE`)",
                unapproved.join(", ")
            ),
        ));
    }
    Ok(snapshot)
}

/// The freeze windows in force for the train's services: refused unless
/// forced with a reason; with both, the windows it overrides.
fn freezes<'a>(
    spec: &TrainSpec,
    service: &impl Fn(&str) -> Option<&'a ServiceNow<'a>>,
    req: &StartRequest,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Freeze)>, StartRefusal> {
    let frozen: Vec<(String, Freeze)> = spec
        .entries
        .iter()
        .filter_map(|e| {
            let plan = service(&e.service)?.plan;
            freeze_at(plan, now).map(|f| (e.service.clone(), f))
        })
        .collect();
    if frozen.is_empty() {
        return Ok(frozen);
    }
    let words: Vec<String> = frozen
        .iter()
        .map(|(s, f)| {
            let why = f
                .reason
                .as_ref()
                .map_or(String::new(), |r| format!(" {r:?}"));
            format!("{s} (freeze window{why} until {})", f.until.to_rfc3339())
        })
        .collect();
    if !req.force {
        return Err(refuse(
            "frozen",
            format!(
                "inside a freeze window: {}; nothing started (--force --reason TEXT starts it anyway)",
                words.join(", ")
            ),
        ));
    }
    if req.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(refuse(
            "reason_required",
            "--force needs --reason TEXT: a train forced through a freeze window says why".into(),
        ));
    }
    Ok(frozen)
}

/// The window of `plan` in force at `now`.
pub fn freeze_at(plan: &Plan, now: DateTime<Utc>) -> Option<Freeze> {
    plan.freeze.iter().find(|f| f.contains(now)).cloned()
}

/// What a service runs now, and what a deploy takes to run it again.
pub fn previous(plan: &Plan, v: &StateView) -> Previous {
    let deploy = match plan.runtime {
        RuntimeKind::Docker | RuntimeKind::Swarm if plan.deploy.image.is_none() => {
            v.stable.image.clone()
        }
        RuntimeKind::Docker | RuntimeKind::Swarm | RuntimeKind::Process => v.stable.version.clone(),
        RuntimeKind::Static => {
            let addrs: Vec<&str> = v.stable.replicas.iter().map(|r| r.addr.as_str()).collect();
            addrs.join(",")
        }
    };
    Previous {
        deploy,
        version: v.stable.version.clone(),
        image: v.stable.image.clone(),
        replicas: stable_replicas(v).max(1),
        cpus: v.stable.cpus,
        memory: v.stable.memory,
    }
}

/// A running train with every entry waiting.
#[allow(clippy::too_many_arguments)] // one constructor, every field named once
pub fn new_train(
    id: u64,
    file: &str,
    spec: TrainSpec,
    by: &str,
    reason: Option<String>,
    approvals: Vec<Approval>,
    previous: impl Fn(&str) -> Previous,
    now: DateTime<Utc>,
) -> Train {
    let entries = spec
        .entries
        .iter()
        .map(|e| Entry {
            service: e.service.clone(),
            image: e.image.clone(),
            after: e.after.clone(),
            phase: EntryPhase::Waiting,
            release: None,
            previous: previous(&e.service),
            breached: false,
            restore_attempts: 0,
            canary_since: None,
            detail: String::new(),
        })
        .collect();
    Train {
        id,
        file: file.to_string(),
        spec,
        by: by.to_string(),
        reason,
        forced: false,
        overridden: Vec::new(),
        started_at: now,
        finished_at: None,
        status: TrainStatus::Running,
        abort_reason: None,
        approvals,
        entries,
    }
}
