//! [`CleanText`]: every string of the model's types cleaned in one walk,
//! for events and states that arrive whole from outside this process (a
//! journal read back for `replay` and `export`, the daemon's event stream
//! a cockpit attaches to). A field added to the model gets its line here;
//! the walk is exhaustive by destructuring, so the compiler points at it.

use super::clean_in_place;
use crate::model::{
    BreachView, Event, EventKind, GuardVerdict, JournalHeader, LayerProgress, ReplicaView,
    StateView, StepView, VersionView,
};

/// Clean every string inside, in place (see [`super::clean`]).
pub trait CleanText {
    fn clean_text(&mut self);
}

impl CleanText for String {
    fn clean_text(&mut self) {
        clean_in_place(self);
    }
}

impl<T: CleanText> CleanText for Option<T> {
    fn clean_text(&mut self) {
        if let Some(v) = self {
            v.clean_text();
        }
    }
}

impl<T: CleanText> CleanText for Vec<T> {
    fn clean_text(&mut self) {
        self.iter_mut().for_each(CleanText::clean_text);
    }
}

impl<T: CleanText> CleanText for Box<T> {
    fn clean_text(&mut self) {
        (**self).clean_text();
    }
}

impl CleanText for JournalHeader {
    fn clean_text(&mut self) {
        let JournalHeader {
            format,
            version,
            service,
            started_at: _,
        } = self;
        format.clean_text();
        version.clean_text();
        service.clean_text();
    }
}

impl CleanText for Event {
    fn clean_text(&mut self) {
        self.kind.clean_text();
    }
}

impl CleanText for EventKind {
    fn clean_text(&mut self) {
        match self {
            EventKind::Snapshot { state } => state.clean_text(),
            EventKind::Weight {
                from: _,
                to: _,
                by: _,
                reason,
            }
            | EventKind::Phase {
                from: _,
                to: _,
                by: _,
                reason,
            } => reason.clean_text(),
            EventKind::Action {
                action,
                by: _,
                reason,
                ok: _,
                detail,
            } => {
                action.clean_text();
                reason.clean_text();
                detail.clean_text();
            }
            EventKind::Breach {
                guard: _,
                value: _,
                threshold: _,
                on_breach: _,
                detail,
                evidence: _,
            } => {
                // The guard and the policy are enums; the evidence numbers.
                detail.clean_text();
            }
            EventKind::Replica {
                role: _,
                replica,
                status: _,
                detail,
            } => {
                replica.clean_text();
                detail.clean_text();
            }
            EventKind::Tick {
                stable: _,
                canary: _,
                sample: _,
            } => {}
            EventKind::Warning { message } => message.clean_text(),
            EventKind::Pull {
                role: _,
                image,
                layers,
                done: _,
                digest,
            } => {
                image.clean_text();
                layers.clean_text();
                digest.clean_text();
            }
        }
    }
}

impl CleanText for StateView {
    fn clean_text(&mut self) {
        let StateView {
            service,
            runtime,
            phase: _,
            release: _,
            weight_permille: _,
            step,
            stable,
            canary,
            guards,
            guards_muted: _,
            thresholds: _,
            freeze,
            last_breach,
            last_outcome: _,
            failed_requests: _,
            public_addr,
            at: _,
        } = self;
        service.clean_text();
        runtime.clean_text();
        step.clean_text();
        stable.clean_text();
        canary.clean_text();
        guards.clean_text();
        freeze.clean_text();
        last_breach.clean_text();
        public_addr.clean_text();
    }
}

impl CleanText for StepView {
    fn clean_text(&mut self) {
        // Numbers only; listed so a string added later is not missed.
        let StepView {
            index: _,
            total: _,
            weight_permille: _,
            bake_remaining_ms: _,
        } = self;
    }
}

impl CleanText for VersionView {
    fn clean_text(&mut self) {
        let VersionView {
            role: _,
            version,
            image,
            replicas,
            stats: _,
            cpus: _,
            memory: _,
            pinned,
            usage: _,
            drain: _,
        } = self;
        version.clean_text();
        image.clean_text();
        replicas.clean_text();
        pinned.clean_text();
    }
}

impl CleanText for LayerProgress {
    fn clean_text(&mut self) {
        let LayerProgress {
            id,
            current: _,
            total: _,
            done: _,
        } = self;
        id.clean_text();
    }
}

impl CleanText for ReplicaView {
    fn clean_text(&mut self) {
        let ReplicaView {
            id,
            addr,
            status: _,
            exit_code: _,
            cpu_percent: _,
            memory_bytes: _,
            memory_limit: _,
        } = self;
        id.clean_text();
        addr.clean_text();
    }
}

impl CleanText for GuardVerdict {
    fn clean_text(&mut self) {
        let GuardVerdict {
            name: _,
            value: _,
            threshold: _,
            status: _,
            detail,
            evidence: _,
        } = self;
        detail.clean_text();
    }
}

impl CleanText for BreachView {
    fn clean_text(&mut self) {
        let BreachView {
            guard: _,
            value: _,
            threshold: _,
            detail,
            at: _,
        } = self;
        detail.clean_text();
    }
}
