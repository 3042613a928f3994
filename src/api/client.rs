//! The admin API client used by the CLI verbs and the TUI.
//!
//! What a daemon answers is outside text for the process that shows it (it
//! may be an older daemon, or not cutover at all): states, events, logs and
//! error messages are cleaned here ([`crate::text`]) as they enter.

use super::ApiError;
use crate::cli::Target;
use crate::model::{
    Action, ActionReply, ActionRequest, Actor, Event, GuardPatch, ImageCandidates, Refusal, Role,
    StateView,
};
use crate::plan::GuardPlan;
use crate::text::CleanText;
use futures::stream::{BoxStream, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a call to the daemon did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the admin address.
    #[error("cannot reach the cutover daemon at {addr}: {detail} (is `cutover up` running?)")]
    Unreachable { addr: SocketAddr, detail: String },
    #[error(
        "the daemon at {addr} refused the token: check the `token` file in the state directory or --token"
    )]
    Unauthorized { addr: SocketAddr },
    /// The controller refused the action; nothing changed.
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("the daemon answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    #[error(transparent)]
    Discover(#[from] crate::state_dir::StateDirError),
}

impl ClientError {
    /// Exit code for CLI verbs: 3 daemon unreachable, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 3,
            ClientError::Discover(crate::state_dir::StateDirError::NoDaemon { .. }) => 3,
            _ => 1,
        }
    }
}

/// `Debug` shows where it connects, never the token.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    token: String,
    http: reqwest::Client,
    /// A second client without a total timeout, for the event stream.
    stream_http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("token", &crate::cli::REDACTED)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(addr: SocketAddr, token: String) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        let stream_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        Client {
            addr,
            token,
            http,
            stream_http,
        }
    }

    /// Find the daemon from the command line's target flags.
    pub fn from_target(target: &Target) -> Result<Client, ClientError> {
        let ep = crate::state_dir::discover(target)?;
        let client = Client::new(ep.admin, ep.token);
        Ok(match ep.service.as_str() {
            "" => client,
            name => client.for_service(name),
        })
    }

    /// Name the service on every request (`X-Cutover-Service`): a daemon
    /// with several answers for that one; a daemon with one checks it is
    /// the one meant.
    pub fn for_service(mut self, name: &str) -> Client {
        let Ok(value) = reqwest::header::HeaderValue::from_str(name) else {
            return self;
        };
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(super::fleet::SERVICE_HEADER, value);
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .default_headers(headers.clone())
                .no_proxy();
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().expect("a plain HTTP client builds")
        };
        self.http = build(Some(Duration::from_secs(30)));
        self.stream_http = build(None);
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            addr: self.addr,
            detail: if e.is_timeout() {
                "timed out".to_string()
            } else if e.is_connect() {
                "connection refused".to_string()
            } else {
                e.to_string()
            },
        }
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status.as_u16() == 401 {
            return Err(ClientError::Unauthorized { addr: self.addr });
        }
        let text = resp.text().await.unwrap_or_default();
        // What the daemon says is shown to the operator: cleaned here.
        let text_shown = crate::text::clean_owned(text.clone());
        let parsed = serde_json::from_str::<ApiError>(&text).map(|mut e| {
            crate::text::clean_in_place(&mut e.code);
            crate::text::clean_in_place(&mut e.error);
            e
        });
        match parsed {
            // 409: refused in this phase; 400: values the controller refused.
            // Either way nothing changed.
            Ok(e) if matches!(status.as_u16(), 400 | 409) => Err(ClientError::Refused(
                Refusal::new(e.code.as_str().into(), e.error),
            )),
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                message: e.error,
            }),
            Err(_) => Err(ClientError::Api {
                status: status.as_u16(),
                message: text_shown,
            }),
        }
    }

    /// Send with the token, map transport and HTTP errors, decode the JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let resp = self.check(resp).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        self.call(self.http.get(self.url(path))).await
    }

    /// POST `body` as JSON to `path` as the command line (`X-Cutover-Actor:
    /// cli`, so the daemon journals the CLI as the actor) and decode the
    /// JSON answer.
    pub(super) async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let req = self
            .http
            .post(self.url(path))
            .header("x-cutover-actor", "cli");
        self.call(req.json(body)).await
    }

    pub async fn state(&self) -> Result<StateView, ClientError> {
        let mut state: StateView = self.get_json("/v1/state").await?;
        state.clean_text();
        Ok(state)
    }

    /// Every service of a daemon with several (`GET /v1/services`).
    pub async fn services(&self) -> Result<Vec<StateView>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Services {
            services: Vec<StateView>,
        }
        let mut list: Services = self.get_json("/v1/services").await?;
        for s in &mut list.services {
            s.clean_text();
        }
        Ok(list.services)
    }

    pub async fn metrics(&self) -> Result<serde_json::Value, ClientError> {
        self.get_json("/v1/metrics").await
    }

    /// Ask for an action. `Err(ClientError::Refused)` when the controller said no.
    pub async fn act(&self, req: &ActionRequest) -> Result<ActionReply, ClientError> {
        let mut reply: ActionReply = self
            .call(self.http.post(self.url("/v1/actions")).json(req))
            .await?;
        crate::text::clean_in_place(&mut reply.detail);
        reply.state.clean_text();
        Ok(reply)
    }

    /// The guard thresholds in force (`GET /v1/guards`).
    pub async fn guards(&self) -> Result<GuardPlan, ClientError> {
        self.get_json("/v1/guards").await
    }

    /// Change guard thresholds of the running release; keys left `None` in
    /// `patch` stay. `Err(ClientError::Refused)` with the reason when a value
    /// breaks the plan's rules (nothing changed).
    pub async fn set_guards(
        &self,
        patch: GuardPatch,
        by: Actor,
        reason: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        self.act(&ActionRequest {
            action: Action::SetGuards { guards: patch },
            by,
            reason,
        })
        .await
    }

    /// The event stream: first a snapshot, then the backlog (the latest
    /// journal events, older than the snapshot, oldest first), then every
    /// event as it happens. Ends when the daemon goes away (the caller
    /// reconnects).
    pub async fn events(
        &self,
    ) -> Result<BoxStream<'static, Result<Event, ClientError>>, ClientError> {
        self.stream_events(0).await
    }

    /// [`Client::events`], with the last `ticks` seconds of metric ticks
    /// in the backlog too: what a cockpit needs to draw its graphs at once.
    pub async fn events_with_ticks(
        &self,
        ticks: usize,
    ) -> Result<BoxStream<'static, Result<Event, ClientError>>, ClientError> {
        self.stream_events(ticks).await
    }

    async fn stream_events(
        &self,
        ticks: usize,
    ) -> Result<BoxStream<'static, Result<Event, ClientError>>, ClientError> {
        let path = match ticks {
            0 => "/v1/events".to_string(),
            n => format!("/v1/events?ticks={n}"),
        };
        let resp = self
            .stream_http
            .get(self.url(&path))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let resp = self.check(resp).await?;
        let addr = self.addr;
        let bytes = resp.bytes_stream();
        let lines = futures::stream::unfold(
            (bytes, Vec::<u8>::new()),
            move |(mut bytes, mut buf)| async move {
                loop {
                    if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let parsed = serde_json::from_slice::<Event>(&line[..line.len() - 1])
                            .map(|mut e| {
                                e.clean_text();
                                e
                            })
                            .map_err(|e| {
                                ClientError::Protocol(crate::text::clean_owned(format!(
                                    "bad event line: {e}"
                                )))
                            });
                        return Some((parsed, (bytes, buf)));
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                        Some(Err(e)) => {
                            return Some((
                                Err(ClientError::Unreachable {
                                    addr,
                                    detail: e.to_string(),
                                }),
                                (bytes, Vec::new()),
                            ));
                        }
                        None => return None,
                    }
                }
            },
        );
        Ok(lines.boxed())
    }

    /// What a new canary could run, and what a deploy would start
    /// (`GET /v1/images`).
    pub async fn images(&self) -> Result<ImageCandidates, ClientError> {
        let mut c: ImageCandidates = self.get_json("/v1/images").await?;
        c.images.clean_text();
        Ok(c)
    }

    /// The last `tail` lines of the first replica of `role`.
    pub async fn logs(&self, role: Role, tail: usize) -> Result<Vec<String>, ClientError> {
        self.logs_at(&format!("/v1/logs?role={role}&tail={tail}"))
            .await
    }

    /// The last `tail` lines of one replica, by its id (a container id,
    /// `pid:1234`, an address). An id the daemon does not run is
    /// `Err(ClientError::Api { status: 404, .. })` naming the ids it does.
    pub async fn replica_logs(&self, id: &str, tail: usize) -> Result<Vec<String>, ClientError> {
        let url = reqwest::Url::parse_with_params(
            &self.url("/v1/logs"),
            [("replica", id), ("tail", &tail.to_string())],
        )
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.logs_at(&format!("/v1/logs?{}", url.query().unwrap_or_default()))
            .await
    }

    async fn logs_at(&self, path_and_query: &str) -> Result<Vec<String>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Logs {
            lines: Vec<String>,
        }
        let mut logs: Logs = self.get_json(path_and_query).await?;
        logs.lines.clean_text();
        Ok(logs.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "f00dfeed-secret-token";
        let c = Client::new("127.0.0.1:7900".parse().unwrap(), secret.into());
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("127.0.0.1:7900"), "{shown}");
    }
}
