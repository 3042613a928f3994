//! Which containers are ours: a scan of the engine by the service label,
//! sorted into running and exited replicas of this instance, another
//! cutover's (left alone, named), and look-alikes that lack cutover's
//! identity labels. Apart from `docker.rs` because ownership is the rule
//! that keeps cutover from touching what is not its own (`docs/SECURITY.md`).

use super::super::docker_events;
use super::super::{Claim, Instance, Inventory, Replica, RuntimeError, exit_detail};
use super::{DockerRuntime, LABEL_RELEASE, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION};
use crate::model::Role;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use std::collections::HashMap;

impl DockerRuntime {
    /// Every container carrying this service's label, sorted into ours
    /// (running or dead) and look-alikes that are not ours.
    pub(super) async fn scan(&self, service: &str) -> Result<Inventory, RuntimeError> {
        let found = self.labelled(service).await?;
        let mut inv = Inventory::default();
        let me = self.instance();
        for c in found {
            let Some(id) = c.id.clone() else { continue };
            let labels = c.labels.clone().unwrap_or_default();
            // The filter is the engine's; this re-check is ours.
            if labels.get(LABEL_SERVICE).map(String::as_str) != Some(service) {
                continue;
            }
            // Another instance's (another state directory's daemon): not
            // ours, whatever else it carries.
            if let Some(other) =
                Instance::other_than(|k| labels.get(k).map(String::as_str), me.as_ref())
            {
                let short = crate::text::clean(&id[..id.len().min(12)]).into_owned();
                inv.foreign.push(format!(
                    "container {short} of {service} belongs to another cutover, {}: not ours, left alone",
                    other.describe()
                ));
                Claim::add(&mut inv.others, other, short);
                continue;
            }
            let Some(replica) = replica_from_labels(id.clone(), &labels, self.addr_of(&c)) else {
                let warning = not_cutovers(&c, &id, service);
                tracing::warn!("{warning}");
                inv.foreign.push(warning);
                continue;
            };
            use bollard::models::ContainerSummaryStateEnum as State;
            match c.state {
                Some(State::RUNNING | State::PAUSED | State::RESTARTING) => {
                    docker_events::lock(&self.tracker).know(&id);
                    inv.running.push(replica);
                }
                Some(State::CREATED) => inv.exited.push((replica, "never started".into())),
                _ => {
                    let detail = self.how_it_ended(&id, &c).await;
                    inv.exited.push((replica, detail));
                }
            }
        }
        Ok(inv)
    }

    /// Every container, running or not, that the engine finds with this
    /// service's label.
    async fn labelled(&self, service: &str) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{LABEL_SERVICE}={service}")],
        );
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.err("list containers", e))
    }

    /// How a dead container ended (its exit code, or that it ran out of
    /// memory); the engine's status line when it cannot be inspected.
    async fn how_it_ended(&self, id: &str, c: &ContainerSummary) -> String {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => {
                let s = info.state.unwrap_or_default();
                exit_detail(s.exit_code.unwrap_or(-1), s.oom_killed.unwrap_or(false))
            }
            Err(_) => crate::text::clean_owned(c.status.clone().unwrap_or_else(|| "dead".into())),
        }
    }

    fn addr_of(&self, c: &ContainerSummary) -> String {
        c.ports
            .iter()
            .flatten()
            .find_map(|p| p.public_port)
            .map(|p| self.publish.addr(p))
            .unwrap_or_default()
    }
}

/// The warning for a container that carries the service's label but not
/// cutover's whole identity: named, never touched.
fn not_cutovers(c: &ContainerSummary, id: &str, service: &str) -> String {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map_or(String::new(), |n| {
            crate::text::clean(n.trim_start_matches('/')).into_owned()
        });
    format!(
        "container {name} ({}) carries {LABEL_SERVICE}={service} but not cutover's {LABEL_ROLE} and {LABEL_RELEASE} labels: it is not cutover's, left alone",
        &id[..id.len().min(12)]
    )
}

/// A replica from its labels, only when it carries cutover's whole identity
/// (role and release besides the service).
pub(in crate::runtime) fn replica_from_labels(
    id: String,
    labels: &HashMap<String, String>,
    addr: String,
) -> Option<Replica> {
    let role = match labels.get(LABEL_ROLE).map(String::as_str) {
        Some("stable") => Role::Stable,
        Some("canary") => Role::Canary,
        _ => return None,
    };
    let release = labels.get(LABEL_RELEASE)?.parse().ok()?;
    Some(Replica {
        id,
        role,
        release,
        // Labels are the engine's to report and anyone's to set: outside text.
        version: crate::text::clean_owned(labels.get(LABEL_VERSION).cloned().unwrap_or_default()),
        addr,
    })
}
