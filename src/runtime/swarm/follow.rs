//! Following Swarm's task lists: every second the tasks of each service
//! this runtime started or found are read and compared with the replicas
//! handed out (`swarm_spec::changes`); a task that ended is reported as
//! [`RuntimeEvent::Exited`] (once, shared with the engine's container
//! events), a replacement Swarm started as [`RuntimeEvent::Appeared`].
//! Apart from `swarm.rs` because it runs as its own task, beside the
//! runtime, for as long as the runtime lives.

use super::super::docker_events::{self, SharedTracker};
use super::super::swarm_spec::{self, Change, TaskView};
use super::super::{EXIT_CODE_GONE, Replica, RuntimeEvent};
use super::{Held, POLL, Shared, Svc, gone, lock, service_filter};
use bollard::Docker;
use bollard::query_parameters::ListTasksOptions;
use std::collections::HashSet;
use tokio::sync::broadcast;

/// The tasks of `service`, as the runtime reads them (`swarm_spec::task_view`).
pub(super) async fn tasks_of(
    client: &Docker,
    service: &str,
    target: u16,
) -> Result<Vec<TaskView>, bollard::errors::Error> {
    let tasks = client
        .list_tasks(Some(ListTasksOptions {
            filters: Some(service_filter("service", service)),
        }))
        .await?;
    Ok(tasks
        .iter()
        .filter_map(|t| swarm_spec::task_view(t, target))
        .collect())
}

/// `host:port` of a task: the engine's host for the manager's own node,
/// else the node's address as the swarm knows it.
pub(super) async fn addr_of(
    client: &Docker,
    known: &Shared,
    local_host: &str,
    local_node: &str,
    node: &str,
    port: u16,
) -> String {
    if node == local_node || node.is_empty() {
        return format!("{local_host}:{port}");
    }
    if let Some(a) = lock(known).nodes.get(node) {
        return format!("{a}:{port}");
    }
    let addr = client
        .inspect_node(node)
        .await
        .ok()
        .and_then(|n| n.status?.addr)
        // The engine's words, used as an address: only an IP address is.
        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        })
        .unwrap_or_else(|| local_host.to_string());
    lock(known).nodes.insert(node.to_string(), addr.clone());
    format!("{addr}:{port}")
}

/// The task that follows the task lists of the services started or found:
/// the engine, what the runtime knows, and where its events go.
pub(super) struct Follower {
    pub(super) client: Docker,
    pub(super) known: Shared,
    pub(super) tx: broadcast::Sender<RuntimeEvent>,
    pub(super) tracker: SharedTracker,
    pub(super) local_host: String,
    pub(super) local_node: String,
}

impl Follower {
    /// Follow the task lists of the services started or found, until aborted.
    pub(super) async fn run(self) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (id, svc) in self.followed() {
                self.poll(&id, &svc).await;
            }
        }
    }

    /// The services whose task lists are followed now.
    fn followed(&self) -> Vec<(String, Svc)> {
        lock(&self.known)
            .services
            .iter()
            .filter(|(_, s)| s.followed)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    }

    /// Read one service's tasks and report what changed since the last read.
    async fn poll(&self, id: &str, svc: &Svc) {
        let tasks = match tasks_of(&self.client, id, svc.port).await {
            Ok(t) => t,
            Err(e) if gone(&e) => Vec::new(),
            // The engine is away: its own events say so (docker.rs).
            Err(_) => return,
        };
        let (held, alive): (HashSet<String>, HashSet<String>) = {
            let k = lock(&self.known);
            let mine = k.replicas.iter().filter(|(_, h)| h.service == id);
            let held = mine.clone().map(|(c, _)| c.clone()).collect();
            let alive = mine
                .filter(|(_, h)| h.alive)
                .map(|(c, _)| c.clone())
                .collect();
            (held, alive)
        };
        for change in swarm_spec::changes(&held, &alive, &tasks) {
            match change {
                Change::Ended { container, code } => self.ended(container, code),
                Change::Appeared(t) => self.appeared(id, svc, t).await,
            }
        }
    }

    /// A replica's task is done: reported once, as on Docker.
    fn ended(&self, container: String, code: Option<i64>) {
        if let Some(h) = lock(&self.known).replicas.get_mut(&container) {
            h.alive = false;
        }
        let code = code.unwrap_or(EXIT_CODE_GONE);
        let ev = docker_events::lock(&self.tracker).exit(container, code, false);
        if let Some(ev) = ev {
            let _ = self.tx.send(ev);
        }
    }

    /// Swarm started a task this runtime has not handed out (a replacement):
    /// held, and reported as a new replica of the service's version.
    async fn appeared(&self, id: &str, svc: &Svc, t: TaskView) {
        let (Some(c), Some(port)) = (t.container.clone(), t.published) else {
            return;
        };
        // Still this runtime's to follow (not deleted meanwhile)?
        if !lock(&self.known).services.contains_key(id) {
            return;
        }
        let addr = addr_of(
            &self.client,
            &self.known,
            &self.local_host,
            &self.local_node,
            &t.node,
            port,
        )
        .await;
        docker_events::lock(&self.tracker).know(&c);
        lock(&self.known).replicas.insert(
            c.clone(),
            Held {
                service: id.to_string(),
                node: t.node.clone(),
                alive: true,
                retiring: false,
            },
        );
        tracing::info!(service = %id, container = %c, %addr, "swarm started a replacement task");
        let _ = self.tx.send(RuntimeEvent::Appeared {
            replica: Replica {
                id: c,
                role: svc.role,
                release: svc.release,
                version: svc.version.clone(),
                addr,
            },
        });
    }
}
