//! The grammars a plan's strings must follow: `host:port` addresses and
//! Docker image references. Pure functions from text to "fits" or a
//! sentence saying what does not, shared by the plan's checks and by the
//! actions that take the same strings on a running release.

use std::net::SocketAddr;

/// `host:port` with a DNS name, an IPv4 address or a bracketed IPv6 address.
pub(super) fn host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return port_nonzero(s.rsplit_once(':').map_or("", |p| p.1));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err("no \":port\"".into());
    };
    if host.starts_with('[') {
        return Err("not a valid [IPv6]:port".into());
    }
    if host.contains(':') {
        return Err("an IPv6 address needs brackets: \"[::1]:9001\"".into());
    }
    port_nonzero(port)?;
    if host.is_empty() {
        return Err("no host before the ':'".into());
    }
    if host.len() > 253 {
        return Err("host name longer than 253 characters".into());
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{label:?} is not a valid host name label"));
        }
    }
    Ok(())
}

fn port_nonzero(port: &str) -> Result<(), String> {
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        Ok(p) => Err(format!("port {p} is outside 1–65535")),
        Err(_) => Err(format!("{port:?} is not a port number")),
    }
}

/// The Docker reference grammar (distribution/reference):
/// `[domain[:port]/]path[/path…][:tag][@algorithm:hex]`, lowercase path
/// components separated by `.`, `_`, `__` or dashes, a tag of up to 128
/// word characters, dots and dashes.
/// Whether `s` is a Docker image reference (`[registry/]name[:tag][@digest]`);
/// why not, in words.
pub fn image_reference(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > 255 + 129 + 80 {
        return Err("too long".into());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.is_empty() {
        return Err("no image name".into());
    }
    if name.len() > 255 {
        return Err("name longer than 255 characters".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    let is_domain = parts.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_domain {
        check_registry(first)?;
        parts.remove(0);
    }
    for part in parts {
        if !path_component(part) {
            return Err(format!(
                "{part:?} must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// `algorithm:hex` after the `@`; sha256 exactly 64 lowercase hex digits.
fn check_digest(d: &str) -> Result<(), String> {
    let (alg, hex) = d
        .split_once(':')
        .ok_or("a digest looks like @sha256:<64 hex digits>")?;
    let alg_ok = !alg.is_empty()
        && alg
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c));
    if !alg_ok
        || hex.len() < 32
        || !hex
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "=_-".contains(c))
    {
        return Err("a digest looks like @sha256:<64 hex digits>".into());
    }
    if alg == "sha256"
        && (hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    {
        return Err("a sha256 digest has 64 lowercase hex digits".into());
    }
    Ok(())
}

/// 1 to 128 word characters, dots and dashes, not starting with `.` or `-`.
fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok
        || tag.len() > 128
        || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(format!(
            "tag {tag:?} must be 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')"
        ));
    }
    Ok(())
}

/// A registry: a host name (dot-separated labels), with a port perhaps.
fn check_registry(first: &str) -> Result<(), String> {
    let (host, port) = match first.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (first, None),
    };
    if let Some(p) = port {
        port_nonzero(p).map_err(|e| format!("registry {first:?}: {e}"))?;
    }
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !host_ok {
        return Err(format!("registry {first:?} is not a host name"));
    }
    Ok(())
}

fn path_component(p: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = p.as_bytes();
    if b.is_empty() || !alnum(b[0] as char) || !alnum(b[b.len() - 1] as char) {
        return false;
    }
    // Separators between alphanumeric runs: '.', '_', '__' or one or more '-'.
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if alnum(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i] as char) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}
