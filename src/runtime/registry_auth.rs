//! Registry credentials, found the way the Docker CLI finds them.
//!
//! The CLI keeps them in `config.json` under `$DOCKER_CONFIG` (else
//! `~/.docker`): a per-registry `credHelpers` entry names a
//! `docker-credential-NAME` program for that registry; else `credsStore`
//! names one for every registry; else `auths` holds the credential inline
//! (`auth` is base64 of `user:password`, or `username`/`password`, or an
//! `identitytoken`). A helper is asked with `get` and the server URL on its
//! stdin and answers `{"Username", "Secret"}` (a `<token>` username means
//! the secret is an identity token). No entry anywhere means an anonymous
//! pull, as with the CLI. Operators log in with `docker login` and cutover
//! reuses that; it never writes the file.
//!
//! The parsing and the choice of source are pure ([`DockerConfig::source`]);
//! running a helper is the only I/O, in [`DockerConfig::credentials`].

use base64::Engine;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take before the pull fails.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry host an image reference pulls from: the first path
/// component when it looks like a host (has a `.` or a `:`, or is
/// `localhost`), else Docker Hub (`docker.io`).
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The host a `config.json` key names: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`, `http://r.example:5000/v2/`).
fn key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// The Hub is stored under its old index address; others under their host.
fn is_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// One `auths` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
}

/// The parts of Docker's `config.json` that say where credentials are
/// (everything else in the file is ignored, as the CLI's other settings are
/// none of cutover's business).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    pub creds_store: Option<String>,
    #[serde(default)]
    pub cred_helpers: BTreeMap<String, String>,
    /// Where the file was read from, for error messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// `PATH` for the helpers; `None`: this process's own.
    #[serde(skip)]
    pub helper_path: Option<OsString>,
}

/// Where the credential for one registry comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Run `docker-credential-NAME get` (from `credHelpers` or `credsStore`).
    Helper { name: String, server: String },
    /// Written in `auths`.
    Inline(AuthEntry),
    /// Nothing stored: pull anonymously.
    Anonymous,
}

/// Why credentials could not be had; the message names the file or helper.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// The directory the CLI reads `config.json` from: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

impl DockerConfig {
    /// Parse `config.json`'s text; `path` is only for messages.
    pub fn parse(text: &str, path: &Path) -> Result<DockerConfig, AuthError> {
        let mut c: DockerConfig = serde_json::from_str(text).map_err(|e| {
            AuthError(format!(
                "{}: not a Docker config file: {e} (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        c.path = Some(path.to_path_buf());
        Ok(c)
    }

    /// Read `DIR/config.json`; a missing file is an empty config (anonymous
    /// pulls), as for the CLI.
    pub fn load(dir: &Path) -> Result<DockerConfig, AuthError> {
        let path = dir.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => DockerConfig::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(AuthError(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Where the credential for `registry` (a host, as [`registry_of`]
    /// gives it) comes from: `credHelpers`, then `credsStore`, then
    /// `auths`, the CLI's order.
    pub fn source(&self, registry: &str) -> Source {
        let hub = is_hub(registry);
        let matches = |key: &str| {
            let h = key_host(key);
            h == registry || (hub && is_hub(h))
        };
        let server = if hub {
            DOCKER_HUB_KEY.to_string()
        } else {
            registry.to_string()
        };
        if let Some((_, name)) = self.cred_helpers.iter().find(|(k, _)| matches(k)) {
            return Source::Helper {
                name: name.clone(),
                server,
            };
        }
        if let Some(name) = self.creds_store.as_ref().filter(|n| !n.is_empty()) {
            return Source::Helper {
                name: name.clone(),
                server,
            };
        }
        match self.auths.iter().find(|(k, _)| matches(k)) {
            Some((_, entry)) => Source::Inline(entry.clone()),
            None => Source::Anonymous,
        }
    }

    /// The credentials to pull `reference` with (`None`: anonymous).
    pub async fn credentials(
        &self,
        reference: &str,
    ) -> Result<Option<DockerCredentials>, AuthError> {
        let registry = registry_of(reference);
        match self.source(&registry) {
            Source::Anonymous => Ok(None),
            Source::Inline(entry) => inline(&entry, &registry, self.path.as_deref()).map(Some),
            Source::Helper { name, server } => self.ask_helper(&name, &server).await,
        }
    }

    async fn ask_helper(
        &self,
        name: &str,
        server: &str,
    ) -> Result<Option<DockerCredentials>, AuthError> {
        use tokio::io::AsyncWriteExt;
        let program = format!("docker-credential-{name}");
        let mut cmd = tokio::process::Command::new(&program);
        cmd.arg("get")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = &self.helper_path {
            cmd.env("PATH", path);
        }
        let mut child = cmd.spawn().map_err(|e| {
            AuthError(format!(
                "credential helper {program} (named in {}) cannot run: {e}",
                self.path
                    .as_deref()
                    .map_or("config.json".into(), |p| p.display().to_string())
            ))
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(server.as_bytes()).await;
        }
        let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                AuthError(format!(
                    "credential helper {program} gave no answer within {} s",
                    HELPER_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| AuthError(format!("credential helper {program}: {e}")))?;
        let said = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            // The helpers' own wording for "nothing stored": anonymous, as the CLI does.
            if said.contains("credentials not found") {
                return Ok(None);
            }
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(AuthError(format!(
                "credential helper {program} failed for {server} ({}): {}",
                out.status,
                format!("{} {}", said.trim(), err.trim()).trim()
            )));
        }
        helper_answer(&said, server).map_err(|e| AuthError(format!("{program}: {e}")))
    }
}

/// What a helper printed, as credentials.
fn helper_answer(text: &str, server: &str) -> Result<Option<DockerCredentials>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let a: Answer = serde_json::from_str(text.trim())
        .map_err(|e| format!("expected {{\"Username\", \"Secret\"}} JSON, found {text:?}: {e}"))?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    let mut c = DockerCredentials {
        serveraddress: Some(server.to_string()),
        ..Default::default()
    };
    if a.username == "<token>" {
        c.identitytoken = Some(a.secret);
    } else {
        c.username = Some(a.username);
        c.password = Some(a.secret);
    }
    Ok(Some(c))
}

/// An `auths` entry as credentials (`auth` decoded into user and password).
fn inline(
    e: &AuthEntry,
    registry: &str,
    file: Option<&Path>,
) -> Result<DockerCredentials, AuthError> {
    let server = if is_hub(registry) {
        DOCKER_HUB_KEY
    } else {
        registry
    };
    let mut c = DockerCredentials {
        serveraddress: Some(server.to_string()),
        username: e.username.clone(),
        password: e.password.clone(),
        identitytoken: e.identitytoken.clone(),
        ..Default::default()
    };
    if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let where_ = file.map_or("config.json".into(), |p| p.display().to_string());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|err| {
                AuthError(format!(
                    "{where_}: auths.{registry:?}.auth is not base64 of user:password: {err}"
                ))
            })?;
        let text = String::from_utf8_lossy(&bytes);
        let Some((user, pass)) = text.split_once(':') else {
            return Err(AuthError(format!(
                "{where_}: auths.{registry:?}.auth decodes to no user:password pair"
            )));
        };
        c.username = Some(user.to_string());
        c.password = Some(pass.to_string());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DockerConfig {
        DockerConfig::parse(text, Path::new("/cfg/config.json")).unwrap()
    }

    #[test]
    fn the_registry_is_the_first_component_only_when_it_looks_like_a_host() {
        for (reference, registry) in [
            ("shop:1", "docker.io"),
            ("library/shop:1", "docker.io"),
            ("team/shop", "docker.io"),
            ("127.0.0.1:5000/shop:v2", "127.0.0.1:5000"),
            ("registry.example/team/shop@sha256:ab", "registry.example"),
            ("localhost/shop", "localhost"),
            ("localhost:5000/shop", "localhost:5000"),
        ] {
            assert_eq!(registry_of(reference), registry, "{reference}");
        }
    }

    #[test]
    fn helpers_per_registry_win_over_the_store_which_wins_over_auths() {
        let c = config(
            r#"{"auths": {"r.example": {"auth": "dTpw"}, "https://index.docker.io/v1/": {"auth": "aDpw"}},
                "credsStore": "desktop",
                "credHelpers": {"gcr.example": "gcloud"}}"#,
        );
        assert_eq!(
            c.source("gcr.example"),
            Source::Helper {
                name: "gcloud".into(),
                server: "gcr.example".into()
            }
        );
        assert_eq!(
            c.source("r.example"),
            Source::Helper {
                name: "desktop".into(),
                server: "r.example".into()
            },
            "a store covers every registry, even one with an auths entry"
        );
        let no_store = config(r#"{"auths": {"http://r.example/v2/": {"auth": "dTpw"}}}"#);
        assert!(matches!(no_store.source("r.example"), Source::Inline(_)));
        assert_eq!(no_store.source("other.example"), Source::Anonymous);
    }

    #[test]
    fn docker_hub_is_stored_under_its_index_address() {
        let c = config(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"}}}"#);
        let Source::Inline(e) = c.source(&registry_of("shop:1")) else {
            panic!("the hub entry is found for a bare name");
        };
        let creds = inline(&e, "docker.io", None).unwrap();
        assert_eq!(creds.username.as_deref(), Some("user"));
        assert_eq!(creds.password.as_deref(), Some("pass"));
        assert_eq!(creds.serveraddress.as_deref(), Some(DOCKER_HUB_KEY));
    }

    #[test]
    fn bad_entries_say_which_file_and_key() {
        let e = AuthEntry {
            auth: Some("!!!".into()),
            ..Default::default()
        };
        let err = inline(&e, "r.example", Some(Path::new("/cfg/config.json")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/cfg/config.json") && err.contains("r.example"),
            "{err}"
        );
        let err = DockerConfig::parse("{\"auths\": [", Path::new("/cfg/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/cfg/config.json: not a Docker config file"),
            "{err}"
        );
    }

    #[test]
    fn a_helper_token_answer_is_an_identity_token() {
        let c = helper_answer(r#"{"Username": "<token>", "Secret": "t0k"}"#, "r.example")
            .unwrap()
            .unwrap();
        assert_eq!(c.identitytoken.as_deref(), Some("t0k"));
        assert_eq!(c.username, None);
        let c = helper_answer(r#"{"ServerURL": "r", "Username": "u", "Secret": "p"}"#, "r")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert!(helper_answer("nope", "r").is_err());
    }

    /// A real helper program, found on the PATH the config gives, asked
    /// with the server on stdin.
    #[tokio::test]
    async fn a_credential_helper_is_run_with_the_server_on_stdin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-cutovertest");
        std::fs::write(
            &helper,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\ncase \"$server\" in\n  r.example:5000) echo '{\"Username\":\"alice\",\"Secret\":\"s3cret\"}' ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = config(
            r#"{"credHelpers": {"r.example:5000": "cutovertest"}, "credsStore": "cutovertest"}"#,
        );
        c.helper_path = Some(dir.path().as_os_str().to_owned());
        let got = c
            .credentials("r.example:5000/shop:v2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.username.as_deref(), Some("alice"));
        assert_eq!(got.password.as_deref(), Some("s3cret"));
        assert_eq!(
            c.credentials("other.example/shop").await.unwrap(),
            None,
            "nothing stored: anonymous"
        );
        c.cred_helpers
            .insert("broken.example".into(), "missing".into());
        let err = c
            .credentials("broken.example/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker-credential-missing"), "{err}");
    }
}
