//! RFC 9112 rules every request passes before it is routed, so that the
//! upstream sees one unambiguous target whatever the client sent:
//!
//! - `CONNECT` is refused (501): cutover is a reverse proxy, not a tunnel
//!   to anywhere a client names; forwarding it as `CONNECT /` made no sense
//!   to any upstream.
//! - More than one `Host` field, or a `Host` value that is not
//!   `host[:port]`, is a 400 (§3.2); so is an HTTP/1.1 request without one.
//!   Two Hosts are the classic way to make a proxy and an upstream route
//!   one request differently.
//! - An absolute-form target (`GET http://shop.example/x HTTP/1.1`) names
//!   the authority: it **replaces** any `Host` the client sent (§3.2.2),
//!   without userinfo, and the upstream gets the origin form (`/x`). Only
//!   `http` and `https` targets are taken.
//!
//! Pure: a table test covers each rule; `forward` calls [`apply`].

use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode, Version};

/// Why a request is refused before routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Connect,
    MissingHost,
    SeveralHosts,
    BadHost,
    BadScheme,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Connect => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The plain reason given to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Connect => "CONNECT is not supported: this is a reverse proxy, not a tunnel",
            Refusal::MissingHost => "an HTTP/1.1 request needs a Host header",
            Refusal::SeveralHosts => "request carries more than one Host header",
            Refusal::BadHost => "request Host header is not a host[:port]",
            Refusal::BadScheme => "an absolute request target must be http or https",
        }
    }
}

/// Check the request's method, target and `Host`, and leave exactly one
/// `Host` that matches its target (none for an HTTP/1.0 request that sent
/// none: the upstream connection adds the member's). Copies nothing for
/// the common origin-form request.
pub fn apply<B>(req: &mut Request<B>) -> Result<(), Refusal> {
    if req.method() == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first_is_valid = hosts.next().map(|v| valid_host(v.as_bytes()));
    if hosts.next().is_some() {
        return Err(Refusal::SeveralHosts);
    }
    if let Some(authority) = req.uri().authority() {
        match req.uri().scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
            _ => return Err(Refusal::BadScheme),
        }
        // `user:pass@host:port` → `host:port` (RFC 9112 §3.2: Host never
        // carries userinfo).
        let host_port = authority
            .as_str()
            .rsplit('@')
            .next()
            .unwrap_or(authority.as_str());
        let value = HeaderValue::from_str(host_port).map_err(|_| Refusal::BadHost)?;
        req.headers_mut().insert(header::HOST, value);
        return Ok(());
    }
    match first_is_valid {
        None if req.version() == Version::HTTP_11 => Err(Refusal::MissingHost),
        None | Some(true) => Ok(()),
        Some(false) => Err(Refusal::BadHost),
    }
}

/// `uri-host [ ":" port ]`, or empty (allowed when the target has no
/// authority, RFC 9112 §3.2).
fn valid_host(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    if v.contains(&b'@') {
        return false;
    }
    std::str::from_utf8(v).is_ok_and(|s| s.parse::<http::uri::Authority>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        method: &str,
        version: Version,
        target: &str,
        hosts: &[&str],
    ) -> Result<Vec<String>, Refusal> {
        let mut req = Request::builder()
            .method(method)
            .version(version)
            .uri(target)
            .body(())
            .unwrap();
        for v in hosts {
            req.headers_mut()
                .append(header::HOST, HeaderValue::from_str(v).unwrap());
        }
        apply(&mut req)?;
        Ok(req
            .headers()
            .get_all(header::HOST)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect())
    }

    #[test]
    fn each_rule() {
        use Refusal::*;
        const HTTP_10: Version = Version::HTTP_10;
        const HTTP_11: Version = Version::HTTP_11;
        let ok = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // (method, version, target, Host fields, outcome)
        type Row<'a> = (
            &'a str,
            Version,
            &'a str,
            &'a [&'a str],
            Result<Vec<String>, Refusal>,
        );
        let table: [Row; 14] = [
            ("GET", HTTP_11, "/", &["shop"], ok(&["shop"])),
            ("GET", HTTP_11, "/", &["shop:8080"], ok(&["shop:8080"])),
            ("GET", HTTP_11, "/", &["[::1]:80"], ok(&["[::1]:80"])),
            ("GET", HTTP_11, "/", &[""], ok(&[""])),
            ("GET", HTTP_11, "/", &["a", "b"], Err(SeveralHosts)),
            ("GET", HTTP_11, "/", &["a", "a"], Err(SeveralHosts)),
            ("GET", HTTP_11, "/", &[], Err(MissingHost)),
            ("GET", HTTP_10, "/", &[], ok(&[])),
            ("GET", HTTP_11, "/", &["a b"], Err(BadHost)),
            ("GET", HTTP_11, "/", &["user@shop"], Err(BadHost)),
            (
                "GET",
                HTTP_11,
                "http://user:pw@real.example:81/x?q",
                &["fake.example"],
                ok(&["real.example:81"]),
            ),
            (
                "GET",
                HTTP_10,
                "http://real.example/x",
                &[],
                ok(&["real.example"]),
            ),
            (
                "GET",
                HTTP_11,
                "ftp://real.example/x",
                &["a"],
                Err(BadScheme),
            ),
            (
                "CONNECT",
                HTTP_11,
                "db.internal:5432",
                &["db.internal:5432"],
                Err(Connect),
            ),
        ];
        for (method, version, target, hosts, want) in table {
            assert_eq!(
                run(method, version, target, hosts),
                want,
                "{method} {target} {hosts:?}"
            );
        }
        // Two Hosts are refused even when the target names the authority.
        assert_eq!(
            run("GET", HTTP_11, "http://real.example/", &["a", "b"]),
            Err(SeveralHosts)
        );
        assert_eq!(Connect.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(SeveralHosts.status(), StatusCode::BAD_REQUEST);
    }
}
