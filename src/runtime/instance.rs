//! Instance identity: which state directory's daemon a replica belongs to.
//!
//! Labels alone (`cutover.service=shop`) cannot tell two state directories
//! that run the same service on one engine apart: each daemon would adopt
//! or remove the other's replicas as its own. So each state directory has
//! an instance id (random, kept in `<state>/<service>/instance`), and every
//! replica a daemon starts carries it with the daemon's admin address and
//! state directory (`cutover.instance`, `cutover.admin`, `cutover.state`).
//!
//! A replica with another instance's id is never ours: never listed,
//! adopted, stopped or removed. A daemon refuses to start while such
//! replicas exist *and* their daemon is alive; whether it is, is asked of
//! that daemon itself ([`alive`]): its `/healthz` must answer with the same
//! instance id (the `x-cutover-instance` header), so a stale address that
//! some other process (or this very daemon) now listens on never counts.
//! Replicas without an instance label were started by a cutover from
//! before instance ids and stay adoptable, so an upgrade keeps its release.

use std::collections::BTreeMap;
use std::time::Duration;

pub const LABEL_INSTANCE: &str = "cutover.instance";
pub const LABEL_ADMIN: &str = "cutover.admin";
pub const LABEL_STATE: &str = "cutover.state";
/// The header `/healthz` answers with: the daemon's instance id.
pub const HEALTHZ_HEADER: &str = "x-cutover-instance";
/// How long [`alive`] waits for the other daemon's answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One state directory's daemon, as its replicas carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    /// Random hex id of the state directory (empty: unknown).
    pub id: String,
    /// Its admin API address, `host:port`.
    pub admin: String,
    /// Its service state directory.
    pub state: String,
}

impl Instance {
    /// The labels (or, for processes, the `CUTOVER_*` environment) that
    /// carry it.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_INSTANCE.to_string(), self.id.clone()),
            (LABEL_ADMIN.to_string(), self.admin.clone()),
            (LABEL_STATE.to_string(), self.state.clone()),
        ])
    }

    /// The instance named by labels (cleaned: labels are anyone's to set),
    /// `None` without an instance id (a replica from before instance ids).
    pub fn from_labels<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Instance> {
        let text = |k: &str| crate::text::clean(get(k).unwrap_or_default()).into_owned();
        let id = text(LABEL_INSTANCE);
        (!id.is_empty()).then(|| Instance {
            id,
            admin: text(LABEL_ADMIN),
            state: text(LABEL_STATE),
        })
    }

    /// The instance named by labels when it is another than `me`: whose
    /// replica this is, if not ours. `None` without an instance label, or
    /// while this runtime serves no instance yet (nothing to tell apart).
    pub fn other_than<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        me: Option<&Instance>,
    ) -> Option<Instance> {
        let other = Instance::from_labels(get)?;
        (other.id != me?.id).then_some(other)
    }

    /// `instance 3f2a… (state /var/lib/cutover/shop, admin 127.0.0.1:7900)`.
    pub fn describe(&self) -> String {
        let short: String = self.id.chars().take(8).collect();
        let or_unknown = |s: &str| {
            if s.is_empty() {
                "unknown".to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "instance {short}… (state {}, admin {})",
            or_unknown(&self.state),
            or_unknown(&self.admin)
        )
    }
}

/// Another instance's replicas of a service, as the runtime found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub instance: Instance,
    /// Their ids (container ids, short).
    pub replicas: Vec<String>,
}

impl Claim {
    /// Count `replica` as `instance`'s in `claims`: one claim per instance,
    /// replicas in the order they were found.
    pub fn add(claims: &mut Vec<Claim>, instance: Instance, replica: String) {
        match claims.iter_mut().find(|c| c.instance == instance) {
            Some(claim) => claim.replicas.push(replica),
            None => claims.push(Claim {
                instance,
                replicas: vec![replica],
            }),
        }
    }
}

/// Whether `other`'s daemon runs: its `/healthz` answers 200 with its own
/// instance id in [`HEALTHZ_HEADER`] within [`PROBE_TIMEOUT`].
pub async fn alive(other: &Instance) -> bool {
    if other.admin.is_empty() {
        return false;
    }
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(PROBE_TIMEOUT)
        .build()
    else {
        return false;
    };
    match client
        .get(format!("http://{}/healthz", other.admin))
        .send()
        .await
    {
        // A daemon of several services names each one's instance.
        Ok(r) => {
            r.status().is_success()
                && r.headers()
                    .get_all(HEALTHZ_HEADER)
                    .iter()
                    .any(|v| v.to_str().ok() == Some(other.id.as_str()))
        }
        Err(_) => false,
    }
}
