//! `DOCKER_HOST=ssh://[user@]host[:port]`: the engine API through the
//! `ssh` client, the way the Docker CLI does it. Each HTTP connection is
//! one `ssh … docker system dial-stdio` child whose stdin and stdout carry
//! the connection; the engine's host needs the docker CLI, and logging in is
//! ssh's own business (its agent, `~/.ssh/config`, default identities,
//! `known_hosts`), with `BatchMode` so a missing key fails instead of
//! prompting in a daemon.
//!
//! Why not bollard's own `ssh` feature: in 0.21 it hands `user@host:port`
//! to the openssh crate without the `ssh://` prefix, which is the only form
//! in which that crate reads a port, so an engine on any port but 22 is
//! unreachable. This transport plugs into bollard as a custom transport
//! and keeps everything else (API negotiation, streams) bollard's.

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Where `ssh` logs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// `ssh://[user@]host[:port][/]` as a target; `None` when it is not one.
pub fn parse(url: &str) -> Option<SshTarget> {
    let rest = url.strip_prefix("ssh://")?.trim_end_matches('/');
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()).filter(|u| !u.is_empty()), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (
            h.to_string(),
            after.strip_prefix(':').map(str::parse).transpose().ok()?,
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (hostport.to_string(), None),
        }
    };
    (!host.is_empty() && !host.contains('/')).then_some(SshTarget { user, host, port })
}

/// The `ssh` command line for one connection.
pub fn ssh_args(t: &SshTarget, key: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T"]
        .map(String::from)
        .to_vec();
    if let Some(p) = t.port {
        a.extend(["-p".into(), p.to_string()]);
    }
    if let Some(k) = key {
        a.extend(["-i".into(), k.display().to_string()]);
    }
    if let Some(u) = &t.user {
        a.extend(["-l".into(), u.clone()]);
    }
    a.extend(["--", &t.host, "docker", "system", "dial-stdio"].map(String::from));
    a
}

/// One connection: the ssh child's stdout (read) and stdin (write).
struct SshStream {
    io: TokioIo<tokio::io::Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens connections by running `ssh` (the URI is ignored: the target is fixed).
#[derive(Clone)]
struct SshConnector {
    args: Arc<Vec<String>>,
}

impl tower_service::Service<http::Uri> for SshConnector {
    type Response = SshStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let args = self.args.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(args.iter())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
                return Err(io::Error::other("ssh started without pipes"));
            };
            Ok(SshStream {
                io: TokioIo::new(tokio::io::join(stdout, stdin)),
                _child: child,
            })
        })
    }
}

/// A bollard client for `url` (`ssh://…`) that logs in with `key`, or
/// with whatever ssh itself would use when `None`.
pub fn connect(url: &str, key: Option<&Path>, timeout: u64) -> Result<Docker, String> {
    let target = parse(url).ok_or_else(|| format!("{url:?} is not ssh://[user@]host[:port]"))?;
    let connector = SshConnector {
        args: Arc::new(ssh_args(&target, key)),
    };
    let client = Client::builder(TokioExecutor::new()).build(connector);
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            async move {
                client
                    .request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        // The authority only names the pool: every connection is the ssh child.
        Some("http://docker.ssh"),
        timeout,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_user_host_and_port() {
        let t = |u: Option<&str>, h: &str, p: Option<u16>| SshTarget {
            user: u.map(String::from),
            host: h.into(),
            port: p,
        };
        assert_eq!(
            parse("ssh://root@127.0.0.1:2222"),
            Some(t(Some("root"), "127.0.0.1", Some(2222)))
        );
        assert_eq!(
            parse("ssh://deploy@shop-1.example"),
            Some(t(Some("deploy"), "shop-1.example", None))
        );
        assert_eq!(parse("ssh://shop-2/"), Some(t(None, "shop-2", None)));
        assert_eq!(
            parse("ssh://u@[2001:db8::7]:22"),
            Some(t(Some("u"), "2001:db8::7", Some(22)))
        );
        assert_eq!(parse("ssh://h:notaport"), None);
        assert_eq!(parse("tcp://h:2375"), None);
        assert_eq!(parse("ssh://"), None);
    }

    #[test]
    fn the_command_line_never_prompts_and_runs_dial_stdio() {
        let a = ssh_args(
            &parse("ssh://root@127.0.0.1:2222").unwrap(),
            Some(Path::new("/k/id")),
        );
        let line = a.join(" ");
        assert_eq!(
            line,
            "-o BatchMode=yes -o ConnectTimeout=10 -T -p 2222 -i /k/id -l root -- 127.0.0.1 docker system dial-stdio"
        );
    }
}
