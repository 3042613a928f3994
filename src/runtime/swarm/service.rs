//! One Swarm service's life on the engine: waiting until its tasks run
//! with their ports, changing its spec (again when someone else changed it
//! in between), deleting it with its tasks' containers, and finding the
//! service a replica belongs to. Apart from `swarm.rs` because these are
//! the engine calls the runtime's methods are made of.

use super::super::swarm_spec::{self, TaskPhase, TaskView};
use super::super::{Replica, RuntimeError, VersionSpec};
use super::{
    SERVICE_ID, START_WITHIN, STOP_SLACK, SwarmRuntime, gone, lock, out_of_sequence, service_filter,
};
use bollard::models::ServiceSpec;
use bollard::query_parameters::{
    InspectServiceOptions, ListContainersOptions, UpdateServiceOptions,
};
use std::time::Duration;

impl SwarmRuntime {
    /// Wait until `replicas` tasks of the service run with their ports;
    /// an error as soon as the tasks say they will not.
    pub(super) async fn wait_running(
        &self,
        id: &str,
        name: &str,
        spec: &VersionSpec,
    ) -> Result<Vec<TaskView>, RuntimeError> {
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        let mut pending_since: Option<tokio::time::Instant> = None;
        loop {
            let tasks = self.tasks(id, spec.port).await?;
            let running: Vec<TaskView> = tasks
                .iter()
                .filter(|t| {
                    t.state == TaskPhase::Running && t.container.is_some() && t.published.is_some()
                })
                .cloned()
                .collect();
            if running.len() >= spec.replicas as usize {
                return Ok(running);
            }
            if let Some(why) = swarm_spec::start_failure(&tasks) {
                // A task that cannot be placed may be placed a moment later
                // (a node joining); one that ended will not serve.
                let ended = tasks.iter().any(|t| matches!(t.state, TaskPhase::Ended(_)));
                let since = *pending_since.get_or_insert_with(tokio::time::Instant::now);
                if ended || since.elapsed() > Duration::from_secs(5) {
                    return Err(RuntimeError::CreateRefused(format!(
                        "service {name}: {}",
                        crate::text::clean(&why)
                    )));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::CreateRefused(format!(
                    "service {name}: {} of {} tasks running after {} s",
                    running.len(),
                    spec.replicas,
                    START_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Change a service's spec from its current version, again if someone
    /// else changed it in between.
    pub(super) async fn update(
        &self,
        service: &str,
        change: impl Fn(&ServiceSpec) -> Option<ServiceSpec>,
    ) -> Result<(), RuntimeError> {
        for _ in 0..5 {
            let current = match self
                .client()
                .inspect_service(service, None::<InspectServiceOptions>)
                .await
            {
                Ok(s) => s,
                Err(e) if gone(&e) => return Ok(()),
                Err(e) => return Err(self.docker.err(&format!("inspect service {service}"), e)),
            };
            let Some(spec) = current.spec.as_ref().and_then(&change) else {
                return Ok(());
            };
            let version = current.version.and_then(|v| v.index).unwrap_or(0);
            let options = UpdateServiceOptions {
                version: i32::try_from(version).unwrap_or(i32::MAX),
                ..Default::default()
            };
            match self
                .client()
                .update_service(service, spec, options, None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if gone(&e) => return Ok(()),
                Err(e) if out_of_sequence(&e) => continue,
                Err(e) => return Err(self.docker.err(&format!("update service {service}"), e)),
            }
        }
        Err(RuntimeError::Other(format!(
            "update service {service}: it kept changing under cutover (5 tries)"
        )))
    }

    /// Delete a service and wait (briefly) until its tasks' containers are
    /// gone too, so nothing with cutover's labels outlives a removal.
    pub(super) async fn delete(&self, service: &str) -> Result<(), RuntimeError> {
        match self.client().delete_service(service).await {
            Ok(()) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(self.docker.err(&format!("remove service {service}"), e)),
        }
        {
            let mut k = lock(&self.known);
            k.services.remove(service);
            k.replicas.retain(|_, h| h.service != service);
        }
        let deadline = tokio::time::Instant::now() + STOP_SLACK;
        while tokio::time::Instant::now() < deadline {
            let left = self
                .client()
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(service_filter(
                        "label",
                        &format!("com.docker.swarm.service.id={service}"),
                    )),
                    ..Default::default()
                }))
                .await
                .map(|l| l.len())
                .unwrap_or(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// The service of a replica (it may be one this runtime never saw:
    /// a cleanup after a restart), from its container's labels.
    pub(super) async fn service_of(&self, replica: &Replica) -> Option<String> {
        if let Some(id) = replica.id.strip_prefix(SERVICE_ID) {
            return Some(id.to_string());
        }
        if let Some(h) = lock(&self.known).replicas.get(&replica.id) {
            return Some(h.service.clone());
        }
        let info = self
            .client()
            .inspect_container(
                &replica.id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok()?;
        info.config?
            .labels?
            .get("com.docker.swarm.service.id")
            .cloned()
    }
}
