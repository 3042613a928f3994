//! Usage mistakes clap cannot express, checked right after parsing and
//! before anything looks for a daemon: a flag that would do nothing is an
//! error, not silently dropped.

use super::{Cli, Command, RoleArg};

/// A usage mistake: which verb, and what is wrong. Exit code 2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// The verb whose usage to show, if any.
    pub verb: Option<&'static str>,
    pub message: String,
}

impl Cli {
    /// The first usage mistake, if any. `given_before_verb` lists the daemon
    /// flags typed before the verb (`--state-dir`, …; not those from the
    /// environment, which every verb may inherit).
    pub fn usage_error(&self, given_before_verb: &[&str]) -> Option<UsageError> {
        let command = self.command.as_ref()?;
        let verb = command.name();
        let err = |message: String| {
            Some(UsageError {
                verb: Some(verb),
                message,
            })
        };
        if let Command::Drain(d) = command
            && d.force
            && d.version == RoleArg::Canary
        {
            return err(
                "--force applies to `drain stable` only: draining the canary rolls it back, which no freeze window holds"
                    .to_string(),
            );
        }
        // The flags that find a daemon, before a verb that does not use them.
        if command.target().is_some() {
            return None;
        }
        // `up` runs a daemon: it keeps its state in --state-dir and runs --plan.
        let honoured: &[&str] = if matches!(command, Command::Up(_)) {
            &["--state-dir", "--plan"]
        } else {
            &[]
        };
        let ignored: Vec<&str> = given_before_verb
            .iter()
            .filter(|f| !honoured.contains(f))
            .copied()
            .collect();
        match ignored.as_slice() {
            [] => None,
            [one] => err(format!(
                "{one} finds a running daemon; `cutover {verb}` does not use one"
            )),
            many => err(format!(
                "{} find a running daemon; `cutover {verb}` does not use one",
                many.join(", ")
            )),
        }
    }

    /// The target of the verb: its own daemon flags, then those typed
    /// before it. `None` for verbs that do not talk to a daemon.
    pub fn verb_target(&self) -> Option<super::Target> {
        Some(self.command.as_ref()?.target()?.or(&self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn check(args: &[&str], before: &[&str]) -> Option<String> {
        let mut all = vec!["cutover"];
        all.extend_from_slice(args);
        Cli::parse_from(all).usage_error(before).map(|e| e.message)
    }

    #[test]
    fn flags_that_would_do_nothing_are_mistakes() {
        assert_eq!(
            check(&["drain", "canary", "--force", "--reason", "x"], &[]).as_deref(),
            Some(
                "--force applies to `drain stable` only: draining the canary rolls it back, which no freeze window holds"
            )
        );
        assert_eq!(
            check(&["drain", "stable", "--force", "--reason", "x"], &[]),
            None
        );
        assert_eq!(
            check(
                &["--admin", "127.0.0.1:1", "load", "http://x/"],
                &["--admin"]
            )
            .as_deref(),
            Some("--admin finds a running daemon; `cutover load` does not use one")
        );
        assert_eq!(
            check(
                &["--token", "t", "--service", "s", "up"],
                &["--token", "--service"]
            )
            .as_deref(),
            Some("--token, --service find a running daemon; `cutover up` does not use one")
        );
        assert_eq!(check(&["--state-dir", "/s", "up"], &["--state-dir"]), None);
        assert_eq!(
            check(&["--state-dir", "/s", "status"], &["--state-dir"]),
            None
        );
        assert_eq!(check(&[], &[]), None);
    }
}
