//! A train as it is persisted, decided on and shown: its entries and where
//! each stands, what each service ran before (to return to it), the
//! approvals it was started with, and how it ended.

use crate::plan::Freeze;
use crate::plan::train::TrainSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An approval of one image for one service: only approved entries deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub service: String,
    pub image: String,
    /// Who approved: the OS user the CLI runs as, or what an API caller said.
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a train stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainStatus {
    /// Starting entries as `max_parallel` and `after` allow.
    Running,
    /// Starting nothing new; reversing what the abort reverses.
    Aborting,
    /// Every entry ended (promoted, or failed without reaching the abort
    /// condition, or skipped after a failed one).
    Done,
    /// Aborted and reversed as far as `rollback` says.
    Aborted,
}

impl TrainStatus {
    pub fn is_over(self) -> bool {
        matches!(self, TrainStatus::Done | TrainStatus::Aborted)
    }
}

/// Where one entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryPhase {
    /// Not started yet (waiting for a slot or for its `after`).
    Waiting,
    /// Its canary is deployed (or about to be) and its plan takes it
    /// through its steps.
    Releasing,
    /// Its release ended promoted.
    Promoted,
    /// Its release ended rolled back or failed.
    Failed,
    /// Never started: the train was aborted, or an entry it waits for failed.
    Skipped,
    /// Abort: its in-flight release is being rolled back.
    RollingBack,
    /// Abort: its in-flight release was rolled back.
    RolledBack,
    /// Abort with `rollback = "all"`: returning to its previous image,
    /// replica count and limits.
    Restoring,
    /// Back on its previous image, replica count and limits.
    Restored,
    /// Could not be returned to its previous version (the detail says why).
    RestoreFailed,
}

impl EntryPhase {
    /// Nothing more happens to it.
    pub fn is_over(self) -> bool {
        !matches!(
            self,
            EntryPhase::Waiting
                | EntryPhase::Releasing
                | EntryPhase::RollingBack
                | EntryPhase::Restoring
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryPhase::Waiting => "waiting",
            EntryPhase::Releasing => "releasing",
            EntryPhase::Promoted => "promoted",
            EntryPhase::Failed => "failed",
            EntryPhase::Skipped => "skipped",
            EntryPhase::RollingBack => "rolling_back",
            EntryPhase::RolledBack => "rolled_back",
            EntryPhase::Restoring => "restoring",
            EntryPhase::Restored => "restored",
            EntryPhase::RestoreFailed => "restore_failed",
        }
    }
}

/// What a service ran when the train started: what it returns to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    /// What `Action::Deploy` takes to run it again (its image, or its
    /// version for a `[deploy]` template).
    pub deploy: String,
    pub version: String,
    pub image: String,
    pub replicas: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
}

/// One entry of a running train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub service: String,
    pub image: String,
    #[serde(default)]
    pub after: Vec<String>,
    pub phase: EntryPhase,
    /// The service's release this entry started (or, restoring, the
    /// release that returns it): known before the deploy is sent, since a
    /// deploy takes the next number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<u64>,
    pub previous: Previous,
    /// A guard breached during this entry's release.
    #[serde(default)]
    pub breached: bool,
    /// Deploys of its previous version tried so far (restoring).
    #[serde(default)]
    pub restore_attempts: u32,
    /// When its canary first took traffic with no steps to follow (the
    /// train waits up to the guards' `evidence_timeout` for evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_since: Option<DateTime<Utc>>,
    /// The last word about it, for people.
    #[serde(default)]
    pub detail: String,
}

/// A train: its file, who started it, its entries and how it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Train {
    /// 1, 2, … per state root.
    pub id: u64,
    pub file: String,
    pub spec: TrainSpec,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Started inside a freeze window with `--force` and a reason.
    #[serde(default)]
    pub forced: bool,
    /// The windows that `forced` overrode, by service: only a window that
    /// starts later aborts the train.
    #[serde(default)]
    pub overridden: Vec<(String, Freeze)>,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub status: TrainStatus,
    /// Why it is aborting or was aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<String>,
    /// The approvals of its entries, as they stood when it started.
    pub approvals: Vec<Approval>,
    pub entries: Vec<Entry>,
}

impl Train {
    pub fn entry(&self, service: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.service == service)
    }

    /// One line per entry, for `cutover train status`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "train {}  {}  ({} entr{}, max_parallel {}, abort_on {}, rollback {})\n",
            self.id,
            match self.status {
                TrainStatus::Running => "running",
                TrainStatus::Aborting => "aborting",
                TrainStatus::Done => "done",
                TrainStatus::Aborted => "aborted",
            },
            self.entries.len(),
            if self.entries.len() == 1 { "y" } else { "ies" },
            self.spec.max_parallel,
            self.spec.abort_on,
            match self.spec.rollback {
                crate::plan::train::RollbackScope::All => "all",
                crate::plan::train::RollbackScope::InFlight => "in_flight",
            }
        );
        if let Some(r) = &self.abort_reason {
            out += &format!("  abort: {r}\n");
        }
        for e in &self.entries {
            out += &format!(
                "  {:<16} {:<14} {:<20} (was {}) {}\n",
                e.service,
                e.phase.as_str(),
                e.image,
                e.previous.version,
                e.detail
            );
        }
        out
    }
}
