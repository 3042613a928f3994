//! Local demo images, built from the cutover binary itself: no registry, no
//! network. The build context is a tar holding the binary at `/cutover` and
//! every shared library `ldd` lists (and the dynamic loader) at their own
//! paths, on top of `FROM scratch`. An image labelled with the binary's
//! fingerprint is reused, so repeated builds cost nothing. Running `ldd` and
//! reading tens of megabytes into the tar is blocking work: it runs on the
//! blocking pool, never on the async threads.

use super::RuntimeError;
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptions, ListImagesOptions};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LABEL_FINGERPRINT: &str = "cutover.binary";

/// Size and modification time: enough to tell one build of the binary from another.
fn fingerprint(binary: &Path) -> Result<String, RuntimeError> {
    let m = std::fs::metadata(binary)
        .map_err(|e| RuntimeError::Other(format!("cannot read {}: {e}", binary.display())))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}-{mtime}", m.len()))
}

/// The shared libraries the binary needs, as `ldd` lists them.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let out = std::process::Command::new("ldd").arg(binary).output();
    let Ok(out) = out else {
        // No ldd: assume a static binary.
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

fn context(binary: &Path, version: &str) -> Result<Vec<u8>, RuntimeError> {
    let io = |e: std::io::Error| RuntimeError::Other(format!("building the image context: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile = format!(
        "FROM scratch\nCOPY . /\nENV DEMO_VERSION={version}\nENV DEMO_BIND=0.0.0.0\nEXPOSE 8080\nENTRYPOINT [\"/cutover\", \"demo-app\"]\n"
    );
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(io)?;
    append_file(&mut tar, binary, Path::new("cutover")).map_err(io)?;
    for lib in shared_libraries(binary)? {
        let name = lib.strip_prefix("/").unwrap_or(&lib).to_path_buf();
        append_file(&mut tar, &lib, &name).map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

/// A plain ustar entry with the file's bytes (symlinks followed). Not
/// `append_path`: that may write GNU sparse entries, which the engine's
/// tar reader refuses ("unhandled tar header type 83").
fn append_file(tar: &mut tar::Builder<Vec<u8>>, path: &Path, name: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = std::fs::read(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode | 0o444);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes.as_slice())
}

async fn existing(docker: &Docker, tag: &str, fp: &str) -> bool {
    let mut filters = HashMap::new();
    filters.insert("reference".to_string(), vec![tag.to_string()]);
    filters.insert(
        "label".to_string(),
        vec![format!("{LABEL_FINGERPRINT}={fp}")],
    );
    docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .is_ok_and(|l| !l.is_empty())
}

/// Build one demo image `tag` (demo version `version`) from `binary`, always
/// (`no_cache` also skips the engine's layer cache: a cold build, as a
/// fresh machine sees it). Returns how long it took.
pub async fn build_demo_image(
    docker: &Docker,
    binary: &Path,
    tag: &str,
    version: &str,
    no_cache: bool,
) -> Result<Duration, RuntimeError> {
    let started = Instant::now();
    let fp = fingerprint(binary)?;
    let replaced = image_id(docker, tag).await;
    let (bin, v) = (binary.to_path_buf(), version.to_string());
    let body = tokio::task::spawn_blocking(move || context(&bin, &v))
        .await
        .map_err(|e| RuntimeError::Other(format!("building the image context: {e}")))??;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        nocache: no_cache,
        labels: Some(HashMap::from([(LABEL_FINGERPRINT.to_string(), fp)])),
        ..Default::default()
    };
    // One retry: the build is idempotent, and the engine's legacy builder
    // can fail one when something else (`docker image prune`, another
    // build's clean-up) removes an image it was reading at that moment.
    let body = bytes::Bytes::from(body);
    if let Err(first) = build_once(docker, tag, options.clone(), body.clone()).await {
        tracing::warn!(tag, error = %first, "image build failed; retrying once");
        tokio::time::sleep(Duration::from_millis(500)).await;
        build_once(docker, tag, options, body)
            .await
            .map_err(|again| {
                RuntimeError::CreateRefused(format!("{again} (retried once; first: {first})"))
            })?;
    }
    // The image the tag used to name is now untagged: remove it, or every
    // rebuild (each new binary) leaves ~60 MB behind. The engine refuses
    // while a container still uses it, which is fine: it stays.
    if let Some(old) = replaced
        && image_id(docker, tag).await.as_ref() != Some(&old)
    {
        let _ = docker
            .remove_image(
                &old,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
    Ok(started.elapsed())
}

/// One build through the engine; the error says what the engine said.
async fn build_once(
    docker: &Docker,
    tag: &str,
    options: BuildImageOptions,
    body: bytes::Bytes,
) -> Result<(), String> {
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(body)));
    while let Some(msg) = stream.next().await {
        let info = msg.map_err(|e| format!("building {tag}: {e}"))?;
        if let Some(err) = info.error_detail {
            let message = err.message.clone().unwrap_or_else(|| format!("{err:?}"));
            return Err(format!("building {tag}: {message}"));
        }
    }
    Ok(())
}

async fn image_id(docker: &Docker, tag: &str) -> Option<String> {
    docker.inspect_image(tag).await.ok().and_then(|i| i.id)
}

/// Build `REPO:v1` and `REPO:v2` from `binary` unless images of this very
/// binary exist; returns how long it took.
pub async fn build_demo_images(
    docker: &Docker,
    binary: &Path,
    repo: &str,
) -> Result<Duration, RuntimeError> {
    let started = Instant::now();
    let fp = fingerprint(binary)?;
    for version in ["v1", "v2"] {
        let tag = format!("{repo}:{version}");
        if existing(docker, &tag, &fp).await {
            continue;
        }
        build_demo_image(docker, binary, &tag, version, false).await?;
    }
    Ok(started.elapsed())
}

/// `cutover image build`: build the demo images from this very binary.
pub async fn image_build_cmd(repo: &str) -> color_eyre::Result<()> {
    let rt = super::docker::DockerRuntime::connect().await?;
    let exe = std::env::current_exe()?;
    eprintln!("building {repo}:v1 and {repo}:v2 from {} …", exe.display());
    let took = build_demo_images(rt.client(), &exe, repo).await?;
    eprintln!("done in {:.1} s", took.as_secs_f64());
    Ok(())
}

/// The engine's local image tags, for the deploy prompt (`GET
/// /v1/images`): see [`rank_tags`] for the order.
pub async fn local_tags(
    docker: &Docker,
    prefer: Option<&str>,
) -> Result<Vec<String>, RuntimeError> {
    let list = docker
        .list_images(Some(ListImagesOptions::default()))
        .await
        .map_err(|e| RuntimeError::Other(format!("cannot list the engine's images: {e}")))?;
    Ok(rank_tags(
        list.into_iter().map(|i| (i.created, i.repo_tags)),
        prefer,
    ))
}

/// How many tags the deploy prompt is offered at most.
pub const TAGS_OFFERED: usize = 200;

/// Tags of `(created, tags)` images, best first: those of the repository
/// `prefer` names (stable's image: the next version of the service is
/// the likely canary) first, then the newest; each once, `<none>` left
/// out, at most [`TAGS_OFFERED`].
pub fn rank_tags(
    images: impl IntoIterator<Item = (i64, Vec<String>)>,
    prefer: Option<&str>,
) -> Vec<String> {
    let prefer = prefer.map(repository);
    let mut tags: Vec<(bool, i64, String)> = images
        .into_iter()
        .flat_map(|(created, tags)| tags.into_iter().map(move |t| (created, t)))
        .filter(|(_, t)| !t.starts_with("<none>"))
        .map(|(created, t)| (Some(repository(&t)) != prefer, -created, t))
        .collect();
    tags.sort();
    tags.dedup_by(|a, b| a.2 == b.2);
    tags.into_iter()
        .map(|(_, _, t)| t)
        .take(TAGS_OFFERED)
        .collect()
}

/// `registry:5000/team/shop` of `registry:5000/team/shop:1.5.0` (a colon
/// before the last `/` is a registry's port, not a tag).
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

#[cfg(test)]
mod rank_tests {
    use super::*;

    #[test]
    fn stables_repository_first_then_newest_each_once() {
        let images = vec![
            (10, vec!["other:1".to_string()]),
            (
                30,
                vec!["tools/debug:latest".to_string(), "<none>:<none>".into()],
            ),
            (20, vec!["shop:1.6.0".to_string(), "shop:latest".into()]),
            (5, vec!["shop:1.4.2".to_string(), "other:1".into()]),
        ];
        assert_eq!(
            rank_tags(images, Some("shop:1.4.2")),
            [
                "shop:1.6.0",
                "shop:latest",
                "shop:1.4.2",
                "tools/debug:latest",
                "other:1"
            ]
        );
        assert_eq!(
            repository("registry:5000/team/shop:1.5.0"),
            "registry:5000/team/shop"
        );
        assert_eq!(
            repository("registry:5000/team/shop"),
            "registry:5000/team/shop"
        );
        assert_eq!(repository("shop@sha256:abc"), "shop");
    }
}
