//! Pulling an image from its registry, as the Docker CLI does, before a
//! version starts.
//!
//! Three pure pieces and one edge. [`Layers`] folds the engine's progress
//! messages (one per layer and state: `Downloading` with bytes, `Download
//! complete`, `Already exists`, …) into per-layer bytes; [`Throttle`] lets
//! at most two reports a second through, plus the last; [`failure_of`]
//! turns the engine's error text into one of the failures an operator can
//! act on (not found, unauthorized, unreachable, timeout, bad reference);
//! [`pin_of`] picks the digest the pull resolved the reference to, so a
//! restart or rollback runs exactly those bytes. [`pull`] drives the
//! engine's `images/create` stream with those, and gives up when the engine
//! says nothing for [`STALL`] (a registry that accepts connections and
//! never answers would otherwise hold the deploy for as long as the
//! engine's own timeouts, minutes).
//!
//! Everything here runs before a replica is created: a failed pull leaves
//! the engine and the release exactly as they were.

use crate::model::LayerProgress;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// The longest the engine may say nothing during a pull before it is
/// abandoned as timed out (unless the runtime is given another bound).
pub const STALL: Duration = Duration::from_secs(60);

/// At most this often a progress report goes out (the last always does).
pub const REPORT_EVERY: Duration = Duration::from_millis(500);

/// What went wrong with a pull, as an operator acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullFailure {
    /// The registry has no such repository or tag.
    NotFound,
    /// The registry refused the credentials (or wanted some).
    Unauthorized,
    /// The registry could not be reached at all.
    Unreachable,
    /// The registry (or the engine) stopped answering.
    Timeout,
    /// The reference itself is malformed.
    BadReference,
    /// Anything else the engine said.
    Other,
}

impl PullFailure {
    /// What the operator should check, in a few words.
    pub fn advice(self, registry: &str) -> String {
        match self {
            PullFailure::NotFound => {
                format!("not found in registry {registry} (check the repository name and the tag)")
            }
            PullFailure::Unauthorized => format!(
                "unauthorized by registry {registry} (check the credential for {registry} in Docker's config.json, e.g. `docker login {registry}`; DOCKER_CONFIG says where it is)"
            ),
            PullFailure::Unreachable => {
                format!("registry {registry} is unreachable from the engine")
            }
            PullFailure::Timeout => format!("registry {registry} stopped answering"),
            PullFailure::BadReference => "not a valid image reference".to_string(),
            PullFailure::Other => format!("the engine could not pull it from {registry}"),
        }
    }
}

/// Which failure the engine's message describes. The engine passes on the
/// registry's words (`manifest unknown`, `unauthorized: authentication
/// required`) and Go's network errors (`dial tcp …: connection refused`,
/// `i/o timeout`); timeouts are looked for first, as they also mention the
/// dial.
pub fn failure_of(message: &str) -> PullFailure {
    let m = message.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&["invalid reference format", "invalid repository name"]) {
        PullFailure::BadReference
    } else if any(&[
        "i/o timeout",
        "deadline exceeded",
        "timeout exceeded",
        "handshake timeout",
        "timed out",
    ]) {
        PullFailure::Timeout
    } else if any(&[
        "unauthorized",
        "no basic auth credentials",
        "authentication required",
        "pull access denied",
        "denied:",
        "incorrect username or password",
    ]) {
        PullFailure::Unauthorized
    } else if any(&[
        "manifest unknown",
        "not found",
        "name unknown",
        "repository does not exist",
    ]) {
        PullFailure::NotFound
    } else if any(&[
        "connection refused",
        "no such host",
        "network is unreachable",
        "no route to host",
        "connection reset",
        "dial tcp",
        "server misbehaving",
        "eof",
    ]) {
        PullFailure::Unreachable
    } else {
        PullFailure::Other
    }
}

/// The repository part of a reference: without its tag and digest.
pub fn repository_of(reference: &str) -> &str {
    let rest = reference.split('@').next().unwrap_or(reference);
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => &rest[..last_slash + i],
        None => rest,
    }
}

/// The pinned form (`repo@sha256:…`) of `reference` among the image's
/// repo digests: the one of the same repository (an image pushed to two
/// registries has one per registry). `None` for an image that never came
/// from a registry (built here): its tag is all there is to run.
pub fn pin_of(reference: &str, repo_digests: &[String]) -> Option<String> {
    if reference.contains("@sha256:") {
        return Some(reference.to_string());
    }
    let repo = repository_of(reference);
    // Docker Hub names come back in their short form (`shop@…` for `shop`).
    let hub_short = |r: &str| {
        r.strip_prefix("docker.io/library/")
            .or_else(|| r.strip_prefix("docker.io/"))
            .or_else(|| r.strip_prefix("library/"))
            .unwrap_or(r)
            .to_string()
    };
    repo_digests
        .iter()
        .find(|d| {
            d.split_once('@')
                .is_some_and(|(r, _)| r == repo || hub_short(r) == hub_short(repo))
        })
        .cloned()
}

/// Per-layer bytes of one pull, folded from the engine's messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layers(Vec<LayerProgress>);

impl Layers {
    /// One progress message: the layer `id`, its `status`, and the bytes
    /// the engine reports with it. Messages without a layer id (`Pulling
    /// from …`, `Digest: …`) change nothing.
    pub fn feed(
        &mut self,
        id: Option<&str>,
        status: &str,
        current: Option<i64>,
        total: Option<i64>,
    ) {
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            return;
        };
        // The engine names the image itself by its tag in some messages.
        if !status.contains("layer")
            && !status.starts_with("Download")
            && !status.starts_with("Verifying")
            && !status.starts_with("Extracting")
            && !status.starts_with("Pull complete")
            && !status.starts_with("Already exists")
            && !status.starts_with("Waiting")
        {
            return;
        }
        let i = match self.0.iter().position(|l| l.id == id) {
            Some(i) => i,
            None => {
                self.0.push(LayerProgress {
                    id: id.to_string(),
                    ..Default::default()
                });
                self.0.len() - 1
            }
        };
        let l = &mut self.0[i];
        match status {
            "Downloading" => {
                if let Some(t) = total.filter(|t| *t > 0) {
                    l.total = Some(t as u64);
                }
                if let Some(c) = current.filter(|c| *c >= 0) {
                    l.current = c as u64;
                }
            }
            "Download complete" | "Verifying Checksum" | "Pull complete" | "Already exists" => {
                l.done = true;
                if status == "Already exists" {
                    // Nothing to fetch: it counts as done, not as bytes.
                    l.total = Some(0);
                }
                if let Some(t) = l.total {
                    l.current = t;
                }
            }
            _ if status.starts_with("Extracting") => {
                l.done = true;
                if let Some(t) = l.total {
                    l.current = t;
                }
            }
            _ => {}
        }
    }

    pub fn layers(&self) -> &[LayerProgress] {
        &self.0
    }
}

/// Lets a report through at most every [`REPORT_EVERY`].
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    /// Whether a report may go out at `now` (and if so, counts it).
    pub fn ready(&mut self, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REPORT_EVERY)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// One progress report of a pull: the layers so far, and whether it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct PullReport {
    pub image: String,
    pub layers: Vec<LayerProgress>,
    pub done: bool,
    /// On the last report: what the version is pinned to.
    pub digest: Option<String>,
}

/// Where a pull sends its reports (the controller journals them).
pub type Progress<'a> = &'a (dyn Fn(PullReport) + Send + Sync);

/// A pull that failed, with the engine's own words.
#[derive(Clone, Debug, PartialEq)]
pub struct PullError {
    pub failure: PullFailure,
    pub detail: String,
}

/// Pull `reference` through the engine with `credentials`, reporting
/// progress (throttled) and failing when the engine says nothing for
/// `stall`. Returns the layers as they ended.
pub async fn pull(
    docker: &Docker,
    reference: &str,
    credentials: Option<DockerCredentials>,
    stall: Duration,
    progress: Progress<'_>,
) -> Result<Vec<LayerProgress>, PullError> {
    let options = CreateImageOptions {
        from_image: Some(reference.to_string()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, credentials);
    let mut layers = Layers::default();
    let mut throttle = Throttle::default();
    loop {
        let next = match tokio::time::timeout(stall, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                return Err(PullError {
                    failure: PullFailure::Timeout,
                    detail: format!("the engine reported nothing for {} s", stall.as_secs()),
                });
            }
        };
        let Some(msg) = next else { break };
        let info = msg.map_err(|e| {
            let detail = match e {
                bollard::errors::Error::DockerStreamError { error } => error,
                bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                other => other.to_string(),
            };
            PullError {
                failure: failure_of(&detail),
                detail,
            }
        })?;
        let status = info.status.as_deref().unwrap_or("");
        let (cur, tot) = info
            .progress_detail
            .as_ref()
            .map_or((None, None), |p| (p.current, p.total));
        layers.feed(info.id.as_deref(), status, cur, tot);
        if throttle.ready(Instant::now()) {
            progress(PullReport {
                image: reference.to_string(),
                layers: layers.layers().to_vec(),
                done: false,
                digest: None,
            });
        }
    }
    Ok(layers.layers().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_become_failures_an_operator_can_act_on() {
        use PullFailure::*;
        for (message, failure) in [
            (
                "manifest for 127.0.0.1:5000/shop:nope not found: manifest unknown: manifest unknown",
                NotFound,
            ),
            (
                "Head \"http://127.0.0.1:5001/v2/shop/manifests/v1\": no basic auth credentials",
                Unauthorized,
            ),
            (
                "Head \"http://127.0.0.1:5001/v2/shop/manifests/v1\": unauthorized: authentication required",
                Unauthorized,
            ),
            (
                "pull access denied for shop, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                Unauthorized,
            ),
            (
                "Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused",
                Unreachable,
            ),
            (
                "Get \"https://r.example/v2/\": dial tcp: lookup r.example: no such host",
                Unreachable,
            ),
            (
                "Get \"http://10.9.9.9:5000/v2/\": dial tcp 10.9.9.9:5000: i/o timeout",
                Timeout,
            ),
            (
                "Get \"http://127.0.0.1:5000/v2/\": net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
                Timeout,
            ),
            ("invalid reference format", BadReference),
            (
                "write /var/lib/docker/tmp/x: no space left on device",
                Other,
            ),
        ] {
            assert_eq!(failure_of(message), failure, "{message}");
        }
    }

    #[test]
    fn the_pin_is_the_digest_of_the_same_repository() {
        let digests = vec![
            "mirror.example/shop@sha256:aaaa".to_string(),
            "127.0.0.1:5000/team/shop@sha256:bbbb".to_string(),
        ];
        assert_eq!(
            pin_of("127.0.0.1:5000/team/shop:v2", &digests).as_deref(),
            Some("127.0.0.1:5000/team/shop@sha256:bbbb")
        );
        assert_eq!(pin_of("127.0.0.1:5000/team/other:v2", &digests), None);
        assert_eq!(
            pin_of("cutover-demo:v1", &[]),
            None,
            "built here: no digest"
        );
        assert_eq!(
            pin_of("shop:1", &["shop@sha256:cccc".to_string()]).as_deref(),
            Some("shop@sha256:cccc"),
            "Docker Hub's short names"
        );
        let by_digest = format!("r.example/shop@sha256:{}", "d".repeat(64));
        assert_eq!(pin_of(&by_digest, &[]).as_deref(), Some(by_digest.as_str()));
        assert_eq!(
            repository_of("127.0.0.1:5000/shop:v2"),
            "127.0.0.1:5000/shop"
        );
        assert_eq!(repository_of("127.0.0.1:5000/shop"), "127.0.0.1:5000/shop");
    }

    #[test]
    fn layers_count_bytes_while_downloading_and_whole_once_done() {
        let mut l = Layers::default();
        l.feed(None, "Pulling from team/shop", None, None);
        l.feed(Some("v2"), "Pulling from team/shop", None, None);
        l.feed(Some("a1"), "Pulling fs layer", None, None);
        l.feed(Some("b2"), "Already exists", None, None);
        l.feed(Some("a1"), "Downloading", Some(300), Some(1000));
        assert_eq!(l.layers().len(), 2, "only layers: {:?}", l.layers());
        assert_eq!(crate::model::pull_totals(l.layers()), (300, 1000, 1, 2));
        l.feed(Some("a1"), "Downloading", Some(900), Some(1000));
        l.feed(Some("a1"), "Download complete", None, None);
        l.feed(Some("a1"), "Extracting", Some(10), Some(4000));
        assert_eq!(crate::model::pull_totals(l.layers()), (1000, 1000, 2, 2));
        l.feed(Some("a1"), "Pull complete", None, None);
        assert_eq!(
            l.layers()[0].current,
            1000,
            "extraction bytes are not download bytes"
        );
    }

    #[test]
    fn at_most_two_reports_a_second() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        let passed = (0..100)
            .filter(|i| t.ready(t0 + Duration::from_millis(i * 20)))
            .count();
        assert_eq!(passed, 4, "2 s of messages every 20 ms");
    }
}
