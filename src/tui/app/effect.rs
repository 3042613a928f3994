//! What the app asks the outside world to do. The model never does I/O: a
//! key or a click returns an [`Effect`] and the client loop (or the replay
//! player) carries it out, answering through `App::apply_reply`,
//! `App::set_logs`… so every path stays testable without a socket.

use crate::model::{ActionRequest, GuardPatch, Role};

/// Something the outside world must do for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this action to the daemon; answer with [`App::apply_reply`](super::App::apply_reply).
    Send(ActionRequest),
    /// Fetch the logs of one replica (by id), or of the first replica of
    /// `role` when it has none listed; answer with [`App::set_logs`](super::App::set_logs).
    FetchLogs {
        role: Role,
        replica: Option<String>,
    },
    /// Ask the daemon what a new canary could run (`GET /v1/images`);
    /// answer with [`App::set_images`](super::App::set_images).
    FetchImages,
    /// Steer the replay player.
    Replay(ReplayControl),
    /// Judge the recording again with these thresholds edited (the
    /// replay's "what if"; an empty patch clears it). Nothing is sent.
    WhatIf(GuardPatch),
    Quit,
    /// Back to the fleet view this cockpit was opened from (Esc).
    Back,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplayControl {
    TogglePause,
    /// Multiply the speed by this factor.
    Speed(f64),
    /// Seek by this many seconds (negative: back).
    Seek(i64),
}
