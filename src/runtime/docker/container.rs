//! One replica as a container: what it is created with (name, labels,
//! env, published port, resources, the confinement `hardening.rs` asks
//! for) and how it is created, started and read back, or removed again on
//! failure. Apart from `docker.rs` because every container-create option
//! is set here and nowhere else.

use super::super::docker_events;
use super::super::{Hardening, Instance, Replica, RuntimeError, VersionSpec};
use super::{
    DockerRuntime, LABEL_RELEASE, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION, remove_options,
};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::CreateContainerOptions;
use std::collections::HashMap;

impl DockerRuntime {
    /// Create, start and read back one replica; on any failure the container
    /// this call created is removed before the error is returned.
    pub(super) async fn start_one(
        &self,
        spec: &VersionSpec,
        image: &str,
        n: u32,
        labels: &HashMap<String, String>,
        env: &[String],
    ) -> Result<Replica, RuntimeError> {
        let name = format!(
            "cutover-{}-{}-r{}-{n}-{:04x}",
            spec.service,
            spec.role,
            spec.release,
            fastrand::u16(..)
        );
        let port_key = format!("{}/tcp", spec.port);
        let host_port = match self.host_ports {
            Some((lo, hi)) => format!("{lo}-{hi}"),
            None => String::new(),
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env.to_vec()),
            labels: Some(labels.clone()),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    port_key,
                    Some(vec![PortBinding {
                        host_ip: Some(self.publish.bind_ip.clone()),
                        host_port: Some(host_port),
                    }]),
                )])),
                nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
                memory: spec.memory.map(|m| m as i64),
                memory_swap: spec.memory.map(|m| m as i64),
                ..harden(&spec.hardening)
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| self.err(&format!("create {name}"), e))?;
        let id = created.id;
        let up = async {
            self.docker
                .start_container(
                    &id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| self.err(&format!("start {name}"), e))?;
            self.published(&id, &name, spec.port).await
        };
        match up.await {
            Ok(addr) => {
                docker_events::lock(&self.tracker).know(&id);
                Ok(Replica {
                    id,
                    role: spec.role,
                    release: spec.release,
                    version: spec.version.clone(),
                    addr,
                })
            }
            Err(e) => {
                let _ = self.docker.remove_container(&id, remove_options()).await;
                Err(e)
            }
        }
    }
}

/// The labels every replica of `spec` carries, container or Swarm
/// service: the caller's, cutover's identity (service, role, version,
/// release) and the instance it works for.
pub(in crate::runtime) fn identity_labels(
    spec: &VersionSpec,
    me: Option<Instance>,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert(LABEL_SERVICE.into(), spec.service.clone());
    labels.insert(LABEL_ROLE.into(), spec.role.as_str().into());
    labels.insert(LABEL_VERSION.into(), spec.version.clone());
    labels.insert(LABEL_RELEASE.into(), spec.release.to_string());
    if let Some(me) = me {
        labels.extend(me.labels());
    }
    labels
}

/// The environment a replica starts with: the plan's `env`, and the port
/// it is to listen on (`PORT`, and `DEMO_PORT` for the demo app).
pub(in crate::runtime) fn replica_env(spec: &VersionSpec) -> Vec<String> {
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("PORT={}", spec.port));
    env.push(format!("DEMO_PORT={}", spec.port));
    env
}

/// The confinement a version asks for (`hardening.rs`), as the engine takes
/// it: every container-create option of it is set here and nowhere else.
fn harden(h: &Hardening) -> HostConfig {
    let list = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    HostConfig {
        security_opt: h
            .no_new_privileges
            .then(|| vec!["no-new-privileges:true".to_string()]),
        pids_limit: Some(i64::from(h.pids_limit)),
        cap_drop: list(&h.cap_drop),
        cap_add: list(&h.cap_add),
        readonly_rootfs: h.read_only.then_some(true),
        tmpfs: (!h.tmpfs.is_empty()).then(|| {
            h.tmpfs
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        super::super::hardening::TMPFS_OPTIONS.to_string(),
                    )
                })
                .collect()
        }),
        ..Default::default()
    }
}
