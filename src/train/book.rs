//! What the admin API and the train runner share: the approvals, the
//! latest train, the services' controllers and where it is all kept.
//! Every change is written to disk (atomically) before it is answered,
//! and journaled in the services it concerns.

use super::decide::{self, Decision};
use super::model::{Approval, Train};
use super::start::{ServiceNow, StartRefusal, StartRequest, plan_train};
use super::store::{JournalLine, Store, StoreError};
use crate::controller::ControllerHandle;
use crate::model::Actor;
use crate::plan::Plan;
use chrono::Utc;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// One service a train may release.
#[derive(Clone)]
pub struct TrainService {
    pub name: String,
    pub plan: Plan,
    pub controller: ControllerHandle,
}

#[derive(Default)]
struct Book {
    train: Option<Train>,
    approvals: Vec<Approval>,
}

/// The daemon's trains; cloning is cheap.
#[derive(Clone)]
pub struct Trains {
    book: Arc<Mutex<Book>>,
    pub(super) wake: Arc<Notify>,
    pub(super) store: Store,
    pub(super) services: Arc<Vec<TrainService>>,
}

/// A refusal of the train API: a code for scripts, a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

impl From<StartRefusal> for Refused {
    fn from(r: StartRefusal) -> Refused {
        Refused {
            code: r.code,
            message: r.message,
        }
    }
}

fn stored(e: StoreError) -> Refused {
    Refused {
        code: "not_saved",
        message: format!("cannot save: {e}; nothing changed"),
    }
}

impl Trains {
    /// Open the store in `root` and read back the approvals and the latest
    /// train (a running or aborting one is carried on by the runner).
    pub fn open(root: &std::path::Path, services: Vec<TrainService>) -> Result<Trains, StoreError> {
        let store = Store::open(root)?;
        let book = Book {
            train: store.load_train()?,
            approvals: store.load_approvals()?,
        };
        Ok(Trains {
            book: Arc::new(Mutex::new(book)),
            wake: Arc::new(Notify::new()),
            store,
            services: Arc::new(services),
        })
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn service(&self, name: &str) -> Option<&TrainService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The latest train (running, or how the last one ended).
    pub fn current(&self) -> Option<Train> {
        self.book().train.clone()
    }

    pub fn approvals(&self) -> Vec<Approval> {
        self.book().approvals.clone()
    }

    /// The train journal, oldest first.
    pub fn journal(&self) -> Vec<JournalLine> {
        self.store.read_journal()
    }

    /// Record an approval of `image` for `service` (replacing an earlier
    /// one of the same pair), then journal it in that service.
    pub fn approve(&self, mut a: Approval, actor: Actor) -> Result<Approval, Refused> {
        let Some(s) = self.service(&a.service) else {
            let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
            return Err(Refused {
                code: "no_such_service",
                message: format!(
                    "no service {:?} here; this daemon serves {}",
                    crate::text::clean(&a.service),
                    names.join(", ")
                ),
            });
        };
        if a.image.trim().is_empty() || crate::text::has_control(&a.image) {
            return Err(Refused {
                code: "bad_request",
                message: format!(
                    "cannot approve {:?}: expected an image or version",
                    crate::text::clean(&a.image)
                ),
            });
        }
        crate::text::clean_in_place(&mut a.by);
        if let Some(r) = &mut a.reason {
            crate::text::clean_in_place(r);
        }
        {
            let mut book = self.book();
            let mut list = book.approvals.clone();
            list.retain(|o| !(o.service == a.service && o.image == a.image));
            list.push(a.clone());
            self.store.save_approvals(&list).map_err(stored)?;
            book.approvals = list;
        }
        let detail = format!("{} approved for trains by {}", a.image, a.by);
        s.controller
            .record("approve", actor, a.reason.clone(), detail);
        Ok(a)
    }

    /// Start a train, or say why not (nothing started).
    pub fn start(&self, req: &StartRequest, actor: Actor) -> Result<Train, Refused> {
        let now = Utc::now();
        let t = {
            let mut book = self.book();
            let services: Vec<ServiceNow<'_>> = self
                .services
                .iter()
                .map(|s| ServiceNow {
                    name: &s.name,
                    plan: &s.plan,
                    view: s.controller.state(),
                })
                .collect();
            let id = book.train.as_ref().map_or(1, |t| t.id + 1);
            let t = plan_train(
                req,
                &services,
                &book.approvals,
                book.train.as_ref(),
                id,
                now,
            )?;
            self.store.save_train(&t).map_err(stored)?;
            book.train = Some(t.clone());
            t
        };
        let mut words = format!("train {} started by {} from {}", t.id, t.by, t.file);
        if t.forced {
            words += " (forced through a freeze window)";
        }
        for e in &t.entries {
            let approved = t.approvals.iter().find(|a| a.service == e.service);
            let how = approved.map_or(String::new(), |a| {
                format!(", approved by {} at {}", a.by, a.at.to_rfc3339())
            });
            self.journal_one(
                t.id,
                Some(&e.service),
                actor,
                t.reason.clone(),
                format!("{words}: canary {}{how}", e.image),
            );
        }
        self.journal_file(
            t.id,
            None,
            &format!("{words}; reason: {}", t.reason.as_deref().unwrap_or("-")),
        );
        self.wake.notify_one();
        Ok(t)
    }

    /// Abort the running train by hand.
    pub fn abort(&self, reason: Option<String>, by: &str, actor: Actor) -> Result<Train, Refused> {
        let why = match &reason {
            Some(r) => format!("aborted by {by}: {r}"),
            None => format!("aborted by {by}"),
        };
        let (t, d) = {
            let mut book = self.book();
            let Some(t) = book.train.as_mut() else {
                return Err(Refused {
                    code: "no_train",
                    message: "no train has run on this daemon".into(),
                });
            };
            let mut next = t.clone();
            let d = decide::request_abort(&mut next, why).map_err(|m| Refused {
                code: "not_running",
                message: m,
            })?;
            self.store.save_train(&next).map_err(stored)?;
            *t = next.clone();
            (next, d)
        };
        self.journal_decision(&t, &d, actor);
        self.wake.notify_one();
        Ok(t)
    }

    /// Run `f` on the train under the lock; `Some` when it changed and was
    /// saved (the runner's write-ahead step), with what `f` decided.
    pub(super) fn update(
        &self,
        f: impl FnOnce(&mut Train) -> Decision,
    ) -> Option<(Train, Decision, bool)> {
        let mut book = self.book();
        let t = book.train.as_mut()?;
        let mut next = t.clone();
        let d = f(&mut next);
        let changed = next != *t;
        if changed {
            if let Err(e) = self.store.save_train(&next) {
                tracing::error!("train {}: {e}; its next step waits", next.id);
                return None;
            }
            *t = next.clone();
        }
        Some((next, d, changed))
    }

    /// Journal what a pass decided: in the train journal, and in each
    /// service's (a note about the whole train in every entry's).
    pub(super) fn journal_decision(&self, t: &Train, d: &Decision, actor: Actor) {
        for n in &d.notes {
            self.journal_file(t.id, n.service.as_deref(), &n.text);
            let services: Vec<&str> = match &n.service {
                Some(s) => vec![s.as_str()],
                None => t.entries.iter().map(|e| e.service.as_str()).collect(),
            };
            for s in services {
                if let Some(svc) = self.service(s) {
                    svc.controller.record(
                        "train",
                        actor,
                        Some(format!("train {}", t.id)),
                        n.text.clone(),
                    );
                }
            }
        }
    }

    fn journal_one(
        &self,
        id: u64,
        service: Option<&str>,
        actor: Actor,
        reason: Option<String>,
        text: String,
    ) {
        self.journal_file(id, service, &text);
        if let Some(s) = service.and_then(|s| self.service(s)) {
            s.controller.record("train", actor, reason, text);
        }
    }

    fn journal_file(&self, train: u64, service: Option<&str>, text: &str) {
        let line = JournalLine {
            at: Utc::now(),
            train,
            service: service.map(str::to_string),
            text: text.to_string(),
        };
        if let Err(e) = self.store.journal(&line) {
            tracing::warn!("train journal: {e}");
        }
    }
}
