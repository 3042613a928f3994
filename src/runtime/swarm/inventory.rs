//! Which Swarm services are ours, sorted as the Docker runtime sorts its
//! containers: this instance's (their running tasks are the replicas, a
//! service with none is listed by its id, to be removed), another
//! cutover's (named, left alone), and look-alikes without cutover's
//! identity labels. Apart from `swarm.rs` because ownership is the rule
//! that keeps cutover from touching what is not its own.

use super::super::docker::{LABEL_RELEASE, LABEL_ROLE, LABEL_SERVICE, replica_from_labels};
use super::super::docker_events;
use super::super::swarm_spec::TaskPhase;
use super::super::{Claim, Instance, Inventory, Replica, RuntimeError};
use super::{Held, SERVICE_ID, Svc, SwarmRuntime, lock, service_filter};
use bollard::models::Service;
use bollard::query_parameters::ListServicesOptions;
use std::collections::HashMap;

impl SwarmRuntime {
    /// Every service carrying this service's label, sorted as the Docker
    /// runtime sorts containers: ours (running tasks; a service with none
    /// is listed by its id, to be removed), look-alikes, other instances'.
    pub(super) async fn scan(&self, service: &str) -> Result<Inventory, RuntimeError> {
        let found = self
            .client()
            .list_services(Some(ListServicesOptions {
                filters: Some(service_filter(
                    "label",
                    &format!("{LABEL_SERVICE}={service}"),
                )),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.docker.err("list services", e))?;
        let me = self.docker.instance();
        let mut inv = Inventory::default();
        for s in found {
            let Some(id) = s.id.clone() else { continue };
            let labels = service_labels(&s);
            if labels.get(LABEL_SERVICE).map(String::as_str) != Some(service) {
                continue;
            }
            let name = crate::text::clean_owned(
                s.spec
                    .as_ref()
                    .and_then(|s| s.name.clone())
                    .unwrap_or_default(),
            );
            if let Some(other) =
                Instance::other_than(|k| labels.get(k).map(String::as_str), me.as_ref())
            {
                inv.foreign.push(format!(
                    "swarm service {name} of {service} belongs to another cutover, {}: not ours, left alone",
                    other.describe()
                ));
                Claim::add(&mut inv.others, other, name);
                continue;
            }
            let Some(template) = replica_from_labels(id.clone(), &labels, String::new()) else {
                inv.foreign.push(format!(
                    "swarm service {name} carries {LABEL_SERVICE}={service} but not cutover's {LABEL_ROLE} and {LABEL_RELEASE} labels: it is not cutover's, left alone"
                ));
                continue;
            };
            let port = target_port(&s).unwrap_or(0);
            let tasks = self.tasks(&id, port).await?;
            let mut any = false;
            for t in tasks.iter().filter(|t| t.state == TaskPhase::Running) {
                let (Some(c), Some(p)) = (&t.container, t.published) else {
                    continue;
                };
                any = true;
                let addr = self.addr(&t.node, p).await;
                self.hold(&id, c, &t.node);
                inv.running.push(Replica {
                    id: c.clone(),
                    addr,
                    ..template.clone()
                });
            }
            lock(&self.known).services.insert(
                id.clone(),
                Svc {
                    role: template.role,
                    release: template.release,
                    version: template.version.clone(),
                    port,
                    followed: true,
                },
            );
            if !any {
                inv.exited.push((
                    Replica {
                        id: format!("{SERVICE_ID}{id}"),
                        ..template
                    },
                    format!("service {name} has no running task"),
                ));
            }
        }
        Ok(inv)
    }

    /// Remember a replica handed out, and watch its container's exit.
    pub(super) fn hold(&self, service: &str, container: &str, node: &str) {
        docker_events::lock(self.docker.tracker()).know(container);
        lock(&self.known).replicas.insert(
            container.to_string(),
            Held {
                service: service.to_string(),
                node: node.to_string(),
                alive: true,
                retiring: false,
            },
        );
    }
}

/// A service's labels (its spec's; none when it has no spec).
fn service_labels(s: &Service) -> HashMap<String, String> {
    s.spec
        .as_ref()
        .and_then(|s| s.labels.clone())
        .unwrap_or_default()
}

/// The port the service's replicas listen on, from its published port.
fn target_port(s: &Service) -> Option<u16> {
    s.spec
        .as_ref()?
        .endpoint_spec
        .as_ref()?
        .ports
        .as_ref()?
        .first()?
        .target_port
        .and_then(|p| u16::try_from(p).ok())
}
