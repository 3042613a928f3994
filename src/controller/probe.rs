//! A plain HTTP health checker ([`HttpProbe`]): `GET health.path` on the
//! replica every `health.interval`, `healthy_after` successes in a row make
//! it healthy, `unhealthy_after` failures in a row unhealthy. Only
//! transitions are reported. It goes straight to the replica's address,
//! never through the proxy. The runtime's own checker can take its place
//! through [`HealthChecker`].

use super::interfaces::{HealthChecker, HealthEvent};
use crate::model::ReplicaStatus;
use crate::plan::Health;
use crate::runtime::Replica;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The built-in HTTP health checker.
#[derive(Clone, Debug)]
pub struct HttpProbe {
    client: reqwest::Client,
}

impl Default for HttpProbe {
    fn default() -> Self {
        HttpProbe {
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .build()
                .expect("a plain HTTP client builds"),
        }
    }
}

impl HealthChecker for HttpProbe {
    fn spawn(
        &self,
        replica: Replica,
        health: Health,
        assume_healthy: bool,
        tx: mpsc::UnboundedSender<HealthEvent>,
    ) -> JoinHandle<()> {
        let client = self.client.clone();
        tokio::spawn(async move {
            let url = format!("http://{}{}", replica.addr, health.path);
            let mut healthy = assume_healthy;
            let (mut ok_run, mut bad_run) = (0u32, 0u32);
            let mut tick = tokio::time::interval(health.interval.get());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let result = client.get(&url).timeout(health.timeout.get()).send().await;
                let (ok, detail) = match result {
                    Ok(r) if r.status().is_success() => (
                        true,
                        format!("GET {} → {}", health.path, r.status().as_u16()),
                    ),
                    Ok(r) => (
                        false,
                        format!("GET {} → {}", health.path, r.status().as_u16()),
                    ),
                    // The client's error quotes what the replica sent
                    // back: outside text, cleaned as it enters the model.
                    Err(e) => (
                        false,
                        crate::text::clean_owned(format!("GET {} failed: {e}", health.path)),
                    ),
                };
                if ok {
                    ok_run += 1;
                    bad_run = 0;
                } else {
                    bad_run += 1;
                    ok_run = 0;
                }
                let flip = if !healthy && ok_run >= health.healthy_after.max(1) {
                    Some(ReplicaStatus::Healthy)
                } else if healthy && bad_run >= health.unhealthy_after.max(1) {
                    Some(ReplicaStatus::Unhealthy)
                } else {
                    None
                };
                if let Some(status) = flip {
                    healthy = status == ReplicaStatus::Healthy;
                    let ev = HealthEvent {
                        replica_id: replica.id.clone(),
                        addr: replica.addr.clone(),
                        role: replica.role,
                        status,
                        detail,
                    };
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        })
    }
}
