//! The retry and failover policy of one request, with no I/O: which version
//! the next attempt goes to, whether a failed attempt is tried again, and
//! when a condemned canary's answer is replaced by stable's. `forward.rs`
//! does the sending and asks this module at each turn, so the policy is
//! read and tested here on its own.
//!
//! The rules (nginx's `proxy_next_upstream error timeout`, plus failover
//! between the two versions):
//! - A request goes to the version the split chose, or to the other when
//!   the chosen one has no serving member.
//! - At most [`MAX_ATTEMPTS`] attempts. A request without a body that
//!   failed is tried on another member; the last attempt is kept for the
//!   other version while that one is untried and serving, so a pool whose
//!   members are all dead never keeps the client from the healthy one.
//! - What may be tried again: a connection that could not be made (nothing
//!   was sent) for any request without a body; a broken exchange or an
//!   upstream that did not answer in time only for an idempotent method
//!   without a body. A request with a body is sent once (it is streamed,
//!   never buffered).
//! - A canary 5xx that arrives after the canary's share went to 0 is
//!   answered by stable instead when the request may be sent twice.

use crate::model::Role;

/// How many attempts a request gets when upstreams fail it.
pub const MAX_ATTEMPTS: usize = 3;

/// How an attempt failed, as far as sending it again is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made: nothing reached the upstream.
    Connect,
    /// The exchange broke after the request went out.
    Broken,
    /// The upstream did not answer within its turn.
    TimedOut,
}

/// One request's attempts so far.
#[derive(Clone, Debug)]
pub struct Attempts {
    role: Role,
    made: [usize; 2],
    /// Which versions have a serving member (fixed for the request: it is
    /// routed on one snapshot of the routing table).
    serving: [bool; 2],
    bodyless: bool,
    idempotent: bool,
    /// The version the request may move to if the current one runs out of
    /// members, decided with the attempt it belongs to.
    fallback: Option<Role>,
}

impl Attempts {
    /// A request the split sent to `chosen`.
    pub fn new(chosen: Role, serving: [bool; 2], bodyless: bool, idempotent: bool) -> Attempts {
        let other = chosen.other();
        // The chosen version has no serving member (crashed, draining):
        // the other one serves rather than the client failing.
        let role = if !serving[chosen.index()] && serving[other.index()] {
            other
        } else {
            chosen
        };
        Attempts {
            role,
            made: [0; 2],
            serving,
            bodyless,
            idempotent,
            fallback: None,
        }
    }

    /// The version of the current (or next) attempt.
    pub fn role(&self) -> Role {
        self.role
    }

    /// May the request go out more than once (no body, idempotent)?
    pub fn resendable(&self) -> bool {
        self.bodyless && self.idempotent
    }

    fn spent(&self) -> usize {
        self.made[0] + self.made[1]
    }

    /// The version to try next, or `None` once every attempt is spent.
    pub fn next_version(&mut self) -> Option<Role> {
        let spent = self.spent();
        if spent >= MAX_ATTEMPTS {
            return None;
        }
        let alt = self.role.other();
        let may_switch =
            self.bodyless && self.made[alt.index()] == 0 && self.serving[alt.index()] && spent > 0;
        self.fallback = may_switch.then_some(alt);
        if may_switch && spent + 1 >= MAX_ATTEMPTS {
            // Keep the last attempt for the version not tried yet.
            self.role = alt;
        }
        Some(self.role)
    }

    /// The version [`next_version`](Self::next_version) named has no member left to try:
    /// move to the other one if this request may (then `true`: ask `next`
    /// again), else `false`: the request has run out.
    pub fn out_of_members(&mut self) -> bool {
        match self.fallback.take() {
            Some(alt) => {
                self.role = alt;
                true
            }
            None => false,
        }
    }

    /// An attempt is going out on [`role`](Self::role).
    pub fn started(&mut self) {
        self.made[self.role.index()] += 1;
    }

    /// Is an attempt that failed this way tried again?
    pub fn retry_after(&self, failure: Failure) -> bool {
        match failure {
            Failure::Connect => self.bodyless,
            Failure::Broken | Failure::TimedOut => self.resendable(),
        }
    }

    /// The canary answered a server error while its share is 0 (the error
    /// trip fired, or a rollback began, while the request was on it): is
    /// the request handed to stable instead? Then the next attempt is
    /// stable's, and no client sees an error from a canary already
    /// condemned (the canary is still charged its error).
    pub fn hand_to_stable(&mut self, server_error: bool, canary_share_zero: bool) -> bool {
        let hand = self.role == Role::Canary
            && server_error
            && self.resendable()
            && canary_share_zero
            && self.serving[Role::Stable.index()]
            && self.spent() < MAX_ATTEMPTS;
        if hand {
            self.role = Role::Stable;
        }
        hand
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Canary, Stable};

    const BOTH: [bool; 2] = [true, true];

    /// Drive a request whose every attempt fails with `failure`: the
    /// versions tried, in order, while members last (`members` per version).
    fn failing(a: &mut Attempts, members: [usize; 2], failure: Failure) -> Vec<Role> {
        let mut left = members;
        let mut tried = Vec::new();
        while let Some(role) = a.next_version() {
            if left[role.index()] == 0 {
                if a.out_of_members() {
                    continue;
                }
                break;
            }
            left[role.index()] -= 1;
            a.started();
            tried.push(role);
            if !a.retry_after(failure) {
                break;
            }
        }
        tried
    }

    #[test]
    fn a_dead_chosen_version_hands_the_request_to_the_other() {
        assert_eq!(
            Attempts::new(Canary, [true, false], true, true).role(),
            Stable
        );
        assert_eq!(
            Attempts::new(Canary, [false, false], true, true).role(),
            Canary
        );
    }

    #[test]
    fn the_last_attempt_is_kept_for_the_untried_version() {
        let mut a = Attempts::new(Canary, BOTH, true, true);
        assert_eq!(
            failing(&mut a, [5, 5], Failure::Broken),
            vec![Canary, Canary, Stable]
        );
    }

    #[test]
    fn a_version_out_of_members_passes_the_request_on() {
        let mut a = Attempts::new(Canary, BOTH, true, true);
        assert_eq!(
            failing(&mut a, [5, 1], Failure::TimedOut),
            vec![Canary, Stable, Stable]
        );
    }

    #[test]
    fn attempts_are_capped() {
        let mut a = Attempts::new(Stable, [true, false], true, true);
        assert_eq!(
            failing(&mut a, [9, 0], Failure::Connect).len(),
            MAX_ATTEMPTS
        );
    }

    #[test]
    fn only_what_may_be_sent_twice_is() {
        // POST without a body: a refused connection is retried, a broken
        // exchange or a timeout is not (the upstream may have acted on it).
        let post = Attempts::new(Canary, BOTH, true, false);
        assert!(post.retry_after(Failure::Connect));
        assert!(!post.retry_after(Failure::Broken));
        assert!(!post.retry_after(Failure::TimedOut));
        // Any request with a body is sent once.
        let upload = Attempts::new(Canary, BOTH, false, true);
        for f in [Failure::Connect, Failure::Broken, Failure::TimedOut] {
            assert!(!upload.retry_after(f), "{f:?}");
        }
        let mut a = Attempts::new(Canary, BOTH, false, true);
        assert_eq!(failing(&mut a, [5, 5], Failure::Connect), vec![Canary]);
    }

    #[test]
    fn a_condemned_canary_is_answered_for_by_stable() {
        let mut a = Attempts::new(Canary, BOTH, true, true);
        a.next_version();
        a.started();
        assert!(!a.hand_to_stable(true, false), "its share is not 0 yet");
        assert!(!a.hand_to_stable(false, true), "not a server error");
        assert!(a.hand_to_stable(true, true));
        assert_eq!(a.role(), Stable);
        // Not for a request that may not go out twice, nor without stable.
        let mut post = Attempts::new(Canary, BOTH, true, false);
        post.next_version();
        post.started();
        assert!(!post.hand_to_stable(true, true));
        let mut alone = Attempts::new(Canary, [false, true], true, true);
        alone.next_version();
        alone.started();
        assert!(!alone.hand_to_stable(true, true));
    }
}
