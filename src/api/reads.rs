//! The admin API's long and wide reads: the event stream (`GET
//! /v1/events`, NDJSON from a snapshot on), replica logs (`GET
//! /v1/logs`) and what a new canary could run (`GET /v1/images`). Apart from `server.rs`, which routes, authenticates and
//! acts, because these are the two handlers that stream or fan out to the
//! runtime.

use super::ApiError;
use super::server::ApiState;
use crate::controller::bus::{BACKLOG, TICKS};
use crate::model::{EventKind, ImageCandidates, Role};
use crate::runtime::Replica;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast;

/// `GET /v1/events?backlog=N&ticks=M`: NDJSON, one
/// [`Event`](crate::model::Event) a line. First the current state (a
/// snapshot, `seq` 0), then the backlog: the latest `N` journal events
/// (default and at most [`BACKLOG`](crate::controller::bus::BACKLOG) = 200;
/// `backlog=0` for none) and, when asked, the latest `M` metric ticks (at
/// most [`TICKS`](crate::controller::bus::TICKS) = 300, one a second, so a
/// cockpit that attaches draws the last five minutes at once; default 0),
/// merged oldest first, with their own `seq` and time, older than the
/// snapshot; then every event as it happens. An
/// event is in the backlog or live, exactly once, and `seq` only grows
/// after the snapshot, so a client that attaches mid-release shows what
/// already happened without replaying it onto the state (and one that
/// reconnects can drop the `seq`s it already has). A slow reader that
/// falls behind gets a warning and a fresh snapshot, never a stalled daemon.
pub(super) async fn get_events(
    State(s): State<ApiState>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let n = q.backlog.unwrap_or(BACKLOG).min(BACKLOG);
    let ticks = q.ticks.unwrap_or(0).min(TICKS);
    let (backlog, rx) = s.controller.subscribe_with_backlog(n, ticks);
    let mut first = snapshot_line(&s).to_vec();
    for ev in &backlog {
        first.extend(serde_json::to_string(ev).unwrap_or_default().bytes());
        first.push(b'\n');
    }
    let first = Bytes::from(first);
    let controller = s.controller.clone();
    let rest = futures::stream::unfold((rx, controller), |(mut rx, controller)| async move {
        let text = match rx.recv().await {
            Ok(ev) => serde_json::to_string(&ev).unwrap_or_default() + "\n",
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let state = controller.state();
                let warn = crate::model::Event {
                    seq: 0,
                    at: chrono::Utc::now(),
                    kind: EventKind::Warning {
                        message: format!("event stream fell behind; {n} events skipped"),
                    },
                };
                let snap = crate::model::Event {
                    seq: 0,
                    at: state.at,
                    kind: EventKind::Snapshot {
                        state: Box::new(state),
                    },
                };
                serde_json::to_string(&warn).unwrap_or_default()
                    + "\n"
                    + &serde_json::to_string(&snap).unwrap_or_default()
                    + "\n"
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::io::Error>(Bytes::from(text)), (rx, controller)))
    });
    let stream = futures::stream::once(async move { Ok(first) }).chain(rest);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    backlog: Option<usize>,
    ticks: Option<usize>,
}

fn snapshot_line(s: &ApiState) -> Bytes {
    let state = s.controller.state();
    let ev = crate::model::Event {
        seq: 0,
        at: state.at,
        kind: EventKind::Snapshot {
            state: Box::new(state),
        },
    };
    Bytes::from(serde_json::to_string(&ev).unwrap_or_default() + "\n")
}

/// `GET /v1/logs?replica=ID&tail=N`: that replica's last lines, whichever
/// version it belongs to (`role` narrows the search); `?role=canary` alone
/// reads the first replica of that version. An id the daemon does not run
/// is a 404 that names it and the ids it does run.
#[derive(Deserialize)]
pub(super) struct LogsQuery {
    role: Option<Role>,
    replica: Option<String>,
    tail: Option<usize>,
}

pub(super) async fn get_logs(State(s): State<ApiState>, Query(q): Query<LogsQuery>) -> Response {
    let Some(runtime) = &s.runtime else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no_runtime",
            "this daemon has no runtime to read logs from",
        )
        .into_response();
    };
    let state = s.controller.state();
    let versions: Vec<&crate::model::VersionView> = std::iter::once(&state.stable)
        .chain(state.canary.as_ref())
        .filter(|v| q.role.is_none_or(|r| r == v.role))
        .collect();
    let found = match &q.replica {
        Some(id) => versions
            .iter()
            .find_map(|v| v.replicas.iter().find(|r| &r.id == id).map(|r| (*v, r))),
        None => {
            let role = q.role.unwrap_or(Role::Canary);
            let Some(v) = versions.iter().find(|v| v.role == role) else {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_version",
                    format!("no {role} version is running"),
                )
                .into_response();
            };
            v.replicas.first().map(|r| (*v, r))
        }
    };
    let Some((version, replica)) = found else {
        let known: Vec<&str> = versions
            .iter()
            .flat_map(|v| v.replicas.iter().map(|r| r.id.as_str()))
            .collect();
        let asked = match (&q.replica, q.role) {
            (Some(id), Some(role)) => format!("no {role} replica `{id}`"),
            (Some(id), None) => format!("no replica `{id}`"),
            (None, _) => "that version has no replica".to_string(),
        };
        let running = if known.is_empty() {
            "none is running".to_string()
        } else {
            format!("running: {}", known.join(", "))
        };
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no_replica",
            format!("{asked} ({running})"),
        )
        .into_response();
    };
    let r = Replica {
        id: replica.id.clone(),
        role: version.role,
        release: state.release,
        version: version.version.clone(),
        addr: replica.addr.clone(),
    };
    match runtime.logs(&r, q.tail.unwrap_or(200).min(5000)).await {
        Ok(lines) => Json(serde_json::json!({
            "role": r.role,
            "replica": r.id,
            "lines": lines,
        }))
        .into_response(),
        Err(e) => ApiError::new(StatusCode::BAD_GATEWAY, "runtime", e.to_string()).into_response(),
    }
}

/// `GET /v1/images`: what a new canary could run, in the form `deploy`
/// takes it, and what a deploy would start ([`ImageCandidates`]). A read:
/// the watchers' token may ask too. The runtime says what it has at hand
/// ([`crate::runtime::Runtime::images`]); a plan that deploys by version
/// (`[deploy] image` or `command`) turns those into versions.
pub(super) async fn get_images(State(s): State<ApiState>) -> Response {
    let state = s.controller.state();
    let stable_image = (!state.stable.image.is_empty()).then_some(state.stable.image.as_str());
    let names = match &s.runtime {
        Some(runtime) => match runtime.images(stable_image).await {
            Ok(names) => names,
            Err(e) => {
                return ApiError::new(StatusCode::BAD_GATEWAY, "runtime", e.to_string())
                    .into_response();
            }
        },
        None => Vec::new(),
    };
    let plan = s.plan.as_deref();
    let template = plan.and_then(|p| p.deploy.image.as_deref());
    let by_version = plan.is_some_and(|p| {
        p.deploy.image.is_some()
            || (p.runtime == crate::plan::RuntimeKind::Process && p.deploy.command.is_some())
    });
    let images = match template {
        Some(t) => versions_of(t, &names),
        None => names,
    };
    Json(ImageCandidates {
        images,
        by_version,
        replicas: Some(
            plan.and_then(|p| p.canary.as_ref())
                .map_or(state.stable.replicas.len().max(1) as u32, |c| c.replicas),
        ),
        first_step_permille: plan
            .and_then(|p| p.steps.first())
            .map(|s| s.weight_permille()),
    })
    .into_response()
}

/// The versions that fill `template` (`registry/shop:{version}`) to one of
/// `images`, in their order: what a plan that deploys by version takes.
pub fn versions_of(template: &str, images: &[String]) -> Vec<String> {
    let Some((before, after)) = template.split_once(crate::plan::DeployPlan::VERSION) else {
        return Vec::new();
    };
    images
        .iter()
        .filter_map(|i| i.strip_prefix(before)?.strip_suffix(after))
        .filter(|v| crate::plan::DeployPlan::check_version(v).is_ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::versions_of;

    #[test]
    fn a_template_turns_tags_into_versions() {
        let tags: Vec<String> = [
            "reg:5000/shop:1.6.0",
            "reg:5000/shop:latest",
            "other:1",
            "reg:5000/shop:-x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            versions_of("reg:5000/shop:{version}", &tags),
            ["1.6.0", "latest"]
        );
        assert!(versions_of("no placeholder", &tags).is_empty());
    }
}
