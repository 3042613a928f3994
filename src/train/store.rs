//! Trains and approvals on disk, in the state root beside the services'
//! directories: `.trains/` (a name no service can have: service names do
//! not start with a dot) holds `train.json` (the latest train), and
//! `approvals.json`, both written atomically (temp file, fsync, rename,
//! fsync dir: `crate::private_file::write_atomic`), and `journal.jsonl`,
//! one line per train step, so a replay of the train's story needs no
//! service journal.

use super::model::{Approval, Train};
use crate::private_file::{self, Access, Mode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory inside the state root.
pub const DIR: &str = ".trains";
const TRAIN: &str = "train.json";
const APPROVALS: &str = "approvals.json";
const JOURNAL: &str = "journal.jsonl";

/// One line of the train journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    pub at: DateTime<Utc>,
    pub train: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Store {
    /// `root/.trains`, made 0700 (and checked to be only ours) if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let dir = crate::state_dir::ServiceDir::create(root, DIR).map_err(|e| err(root, e))?;
        Ok(Store { dir: dir.path })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The latest train, if one was ever started (a file that cannot be
    /// read is reported, not silently replaced).
    pub fn load_train(&self) -> Result<Option<Train>, StoreError> {
        self.load(TRAIN)
    }

    pub fn save_train(&self, t: &Train) -> Result<(), StoreError> {
        self.save(TRAIN, t)
    }

    pub fn load_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        Ok(self.load(APPROVALS)?.unwrap_or_default())
    }

    pub fn save_approvals(&self, a: &[Approval]) -> Result<(), StoreError> {
        self.save(APPROVALS, &a)
    }

    fn load<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let path = self.dir.join(name);
        match private_file::read_to_string(&path, Mode::Private) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| err(&path, e)),
            Err(private_file::TrustError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(err(&path, e)),
        }
    }

    fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| err(&path, e))?;
        private_file::write_atomic(&path, &bytes, Mode::Private).map_err(|e| err(&path, e))
    }

    /// Append one step to the train journal (synced: it is the story of
    /// a train a `kill -9` may interrupt).
    pub fn journal(&self, line: &JournalLine) -> Result<(), StoreError> {
        let path = self.dir.join(JOURNAL);
        let mut f =
            private_file::open(&path, Access::Append, Mode::Private).map_err(|e| err(&path, e))?;
        let mut text = serde_json::to_string(line).map_err(|e| err(&path, e))?;
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(|e| err(&path, e))?;
        f.sync_data().map_err(|e| err(&path, e))
    }

    /// Every line of the train journal, oldest first.
    pub fn read_journal(&self) -> Vec<JournalLine> {
        let text = std::fs::read_to_string(self.dir.join(JOURNAL)).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
