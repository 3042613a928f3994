//! How figures and changes are worded, once for every client (the
//! cockpit, the CLI, the headless demo), so no two places disagree.

use super::*;

/// A latency in milliseconds as every client words it: `0.4 ms`, `48 ms`,
/// `1.50 s`. The cockpit's figures and the guards' detail lines both go
/// through it, so a sub-millisecond p99 never reads `0 ms` in one place and
/// `0.4 ms` in the other.
pub fn latency_text(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// How many seconds of once-a-second metric ticks the daemon keeps for a
/// client that attaches late, and how many the cockpit's graphs show.
pub const GRAPH_SECONDS: usize = 300;

/// What a [`EventKind::Replica`] says, as one phrase: the status word, then
/// the detail after a colon (`healthy: GET /healthz → 200`), or the detail
/// alone when it already begins with the status (`stopped (exit 0)`,
/// `exited 1 (on its own)`, `started at 127.0.0.1:4001`), so no line
/// reads "stopped: stopped". Every client (the cockpit, the demo's
/// printout) words a replica change through this one function.
pub fn replica_phrase(status: ReplicaStatus, detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() {
        return status.word().to_string();
    }
    let first: String = detail
        .split(|c: char| c.is_whitespace() || c == ':' || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let same = match status {
        // `started at ADDR` says `starting` already.
        ReplicaStatus::Starting => matches!(first.as_str(), "starting" | "started"),
        ReplicaStatus::OomKilled => first.starts_with("oom"),
        other => first == other.word(),
    };
    if same {
        detail.to_string()
    } else {
        format!("{}: {detail}", status.word())
    }
}

/// A rate as people read it: `0 %`, `0.42 %`, `6.1 %`, `35 %`.
pub fn percent_text(rate: f64) -> String {
    format!("{} %", percent_number(rate))
}

pub(crate) fn percent_number(rate: f64) -> String {
    let p = rate * 100.0;
    if !p.is_finite() {
        "–".to_string()
    } else if p == 0.0 {
        "0".to_string()
    } else if p < 1.0 {
        format!("{p:.2}")
    } else if p < 10.0 || (p > 99.0 && p < 100.0) {
        // 99.5 % is not 100 %: a confidence keeps its decimal.
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    }
}

/// A pull event in one line: `pulling IMAGE: 12.3 of 29.1 MiB, 3/5 layers`,
/// or once done `pulled IMAGE (29.1 MiB, 5 layers) → pinned DIGEST`. One
/// wording for the cockpit, the CLI's plain lines and the headless demo.
pub fn pull_line(kind: &EventKind) -> String {
    let EventKind::Pull {
        image,
        layers,
        done,
        digest,
        ..
    } = kind
    else {
        return String::new();
    };
    let (cur, tot, ldone, n) = pull_totals(layers);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    if *done {
        let pinned = digest.as_deref().map_or(String::new(), |d| {
            let short = d.rsplit_once('@').map_or(d, |(_, h)| h);
            format!(" → pinned {}", short.get(..19).unwrap_or(short))
        });
        format!("pulled {image} ({:.1} MiB, {n} layers){pinned}", mib(tot))
    } else {
        format!(
            "pulling {image}: {:.1} of {:.1} MiB, {ldone}/{n} layers",
            mib(cur),
            mib(tot)
        )
    }
}

/// The overall gauge of a pull: bytes fetched and bytes known, over every
/// layer whose size is known; layers done and layers.
pub fn pull_totals(layers: &[LayerProgress]) -> (u64, u64, usize, usize) {
    let (mut cur, mut tot) = (0u64, 0u64);
    for l in layers {
        if let Some(t) = l.total {
            tot += t;
            cur += if l.done { t } else { l.current.min(t) };
        }
    }
    let done = layers.iter().filter(|l| l.done).count();
    (cur, tot, done, layers.len())
}

/// `25 %`, `2.5 %`: a weight in per mille shown as percent, trailing `.0`
/// dropped.
pub fn permille_text(permille: u16) -> String {
    if permille.is_multiple_of(10) {
        format!("{} %", permille / 10)
    } else {
        format!("{}.{} %", permille / 10, permille % 10)
    }
}

/// Who an event line is about: who acted, which version, or a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventWho {
    Actor(Actor),
    Role(Role),
    Warning,
}

impl EventWho {
    pub fn as_str(self) -> &'static str {
        match self {
            EventWho::Actor(a) => a.as_str(),
            EventWho::Role(r) => r.as_str(),
            EventWho::Warning => "warn",
        }
    }
}

/// One journal event in words: who, and what happened. The cockpit's
/// events panel and the headless demo's printout both word events through
/// this one function. `None` for snapshots and ticks, which are state, not
/// news.
pub fn event_words(kind: &EventKind) -> Option<(EventWho, String)> {
    let why = |reason: &Option<String>| {
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    };
    Some(match kind {
        EventKind::Weight {
            from,
            to,
            by,
            reason,
        } => (
            EventWho::Actor(*by),
            format!(
                "weight {} → {}{}",
                permille_text(*from),
                permille_text(*to),
                why(reason)
            ),
        ),
        EventKind::Phase {
            from,
            to,
            by,
            reason,
        } => (
            EventWho::Actor(*by),
            format!("phase {from} → {to}{}", why(reason)),
        ),
        EventKind::Action {
            action,
            by,
            reason,
            ok,
            detail,
        } => {
            let mark = if *ok { "✓" } else { "✗ refused" };
            (
                EventWho::Actor(*by),
                format!(
                    "{} {mark} {detail}{}",
                    action.replace('_', " "),
                    why(reason)
                ),
            )
        }
        EventKind::Breach {
            guard,
            value,
            threshold,
            on_breach,
            ..
        } => (
            EventWho::Actor(Actor::Guard),
            format!(
                "✗ BREACH {} {} > {} → {on_breach}",
                guard.label(),
                guard.value_text(*value),
                guard.value_text(*threshold)
            ),
        ),
        EventKind::Replica {
            role,
            replica,
            status,
            detail,
        } => (
            EventWho::Role(*role),
            format!("{} {}", short_id(replica), replica_phrase(*status, detail)),
        ),
        EventKind::Warning { message } => (EventWho::Warning, format!("⚠ {message}")),
        EventKind::Pull { role, .. } => (EventWho::Role(*role), pull_line(kind)),
        EventKind::Snapshot { .. } | EventKind::Tick { .. } => return None,
    })
}

/// A replica id as people read it: 12 characters, as Docker shows them.
pub fn short_id(id: &str) -> String {
    clip(id, 12)
}

/// Cut `s` to `width` characters, with `…` when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}
