//! `cutover train start|status|abort` and `cutover approve`, and the
//! client calls behind them. Trains are the daemon's, not one service's:
//! any service's token reaches them, so with several services in the
//! state directory these verbs need no `--service` (`approve` uses its
//! SERVICE).

use super::client::{Client, ClientError};
use crate::cli::{ApproveArgs, Command, Target, TrainArgs, TrainCommand};
use crate::train::{Approval, StartRequest, Train};

impl Client {
    /// `POST /v1/train`: start a train (refused, nothing started, as
    /// `ClientError::Refused` with the daemon's sentence).
    pub async fn train_start(&self, req: &StartRequest) -> Result<Train, ClientError> {
        self.post_json("/v1/train", req).await
    }

    /// `GET /v1/train`: the latest train.
    pub async fn train(&self) -> Result<Train, ClientError> {
        self.get_json("/v1/train").await
    }

    /// `POST /v1/train/abort`.
    pub async fn train_abort(&self, reason: Option<&str>, by: &str) -> Result<Train, ClientError> {
        let body = serde_json::json!({ "reason": reason, "by": by });
        self.post_json("/v1/train/abort", &body).await
    }

    /// `POST /v1/approvals`.
    pub async fn approve(
        &self,
        service: &str,
        image: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Approval, ClientError> {
        let body =
            serde_json::json!({ "service": service, "image": image, "by": by, "reason": reason });
        self.post_json("/v1/approvals", &body).await
    }
}

/// Who runs this: the OS user's name (else `uid N`).
pub fn os_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => std::env::var("USER").unwrap_or_else(|_| format!("uid {uid}")),
    }
}

/// The target a train verb finds its daemon with: `approve` names its
/// service; the others take any service of the state directory.
pub fn target_for(command: &Command, target: &Target) -> Target {
    let mut t = target.clone();
    if t.service.is_some() || t.plan.is_some() || t.admin.is_some() {
        return t;
    }
    match command {
        Command::Approve(a) => t.service = Some(a.service_name.clone()),
        Command::Train(_) => {
            let root = crate::state_dir::root(t.state_dir.as_deref());
            t.service = crate::state_dir::services(&root).into_iter().next();
        }
        _ => {}
    }
    t
}

/// What a refusal prints: the daemon's sentence, exit 1.
fn refused(e: ClientError) -> Result<u8, ClientError> {
    match e {
        ClientError::Refused(r) => {
            eprintln!("cutover: refused: {}", r.message);
            Ok(1)
        }
        ClientError::Api {
            status: 404,
            message,
        } => {
            eprintln!("cutover: {message}");
            Ok(1)
        }
        other => Err(other),
    }
}

pub async fn train(client: &Client, args: &TrainArgs) -> Result<u8, ClientError> {
    let answer = match &args.command {
        TrainCommand::Start(a) => {
            let text = match std::fs::read_to_string(&a.file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "cutover: cannot read the train file {}: {e}",
                        a.file.display()
                    );
                    return Ok(1);
                }
            };
            let req = StartRequest {
                file: a.file.display().to_string(),
                text,
                force: a.force,
                reason: a.reason.clone(),
                by: Some(os_user()),
            };
            client.train_start(&req).await
        }
        TrainCommand::Status(_) => client.train().await,
        TrainCommand::Abort(a) => client.train_abort(a.reason.as_deref(), &os_user()).await,
    };
    let t = match answer {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    match &args.command {
        TrainCommand::Status(s) if s.json => {
            println!("{}", serde_json::to_string_pretty(&t).unwrap_or_default());
        }
        // A daemon's words, one line at a time (a line break is kept).
        _ => t
            .render()
            .lines()
            .for_each(|l| println!("{}", crate::text::clean(l))),
    }
    Ok(0)
}

pub async fn approve(client: &Client, a: &ApproveArgs) -> Result<u8, ClientError> {
    match client
        .approve(&a.service_name, &a.image, &os_user(), a.reason.as_deref())
        .await
    {
        Ok(ok) => {
            println!(
                "{} approved for {} by {} at {}",
                crate::text::clean(&ok.image),
                crate::text::clean(&ok.service),
                crate::text::clean(&ok.by),
                ok.at.to_rfc3339()
            );
            Ok(0)
        }
        Err(e) => refused(e),
    }
}
