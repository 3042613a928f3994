//! The answers cutover gives clients itself, when it refuses a request or an
//! upstream fails one: a plain status line and a reason a stranger may read,
//! such as `502 Bad Gateway: the service did not answer`.
//!
//! Never in a public body: upstream addresses, replica ids, which version
//! (stable or canary) was tried, error chains. Those tell an attacker the
//! layout behind the proxy. The detail goes to the access log line of the
//! request (`error="…"`), the daemon's log at debug level, and — as counts
//! per version and status — the metrics and the journal's ticks.

use super::body::ProxyBody;
use http::{HeaderValue, Response, StatusCode, header};

/// One answer cutover makes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicError {
    /// No member of either version can take the request (503).
    NoUpstream,
    /// The upstream refused the connection or failed the exchange (502).
    UpstreamFailed,
    /// The upstream began its answer, then broke it off (502).
    UpstreamBrokeOff,
    /// The upstream did not answer within `upstream_timeout` of its turn (504).
    UpstreamTimedOut,
    /// The version was drained before it answered (504).
    Drained,
    /// The client did not send its request body in time (408).
    ClientTimedOut,
    /// The client's request body broke off (400).
    ClientBrokeOff,
    /// Refused before routing, with its status and reason.
    Refused(StatusCode, &'static str),
}

impl PublicError {
    pub fn status(self) -> StatusCode {
        match self {
            PublicError::NoUpstream => StatusCode::SERVICE_UNAVAILABLE,
            PublicError::UpstreamFailed | PublicError::UpstreamBrokeOff => StatusCode::BAD_GATEWAY,
            PublicError::UpstreamTimedOut | PublicError::Drained => StatusCode::GATEWAY_TIMEOUT,
            PublicError::ClientTimedOut => StatusCode::REQUEST_TIMEOUT,
            PublicError::ClientBrokeOff => StatusCode::BAD_REQUEST,
            PublicError::Refused(status, _) => status,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            PublicError::NoUpstream => "no instance of the service is ready to answer",
            PublicError::UpstreamFailed => "the service did not answer",
            PublicError::UpstreamBrokeOff => "the service broke off its answer",
            PublicError::UpstreamTimedOut => "the service did not answer in time",
            PublicError::Drained => "the service was stopped before it answered",
            PublicError::ClientTimedOut => "the request body did not arrive in time",
            PublicError::ClientBrokeOff => "the request body broke off",
            PublicError::Refused(_, reason) => reason,
        }
    }

    /// Whether the connection must close after this answer: the rest of
    /// the client's bytes cannot be trusted to start a new request (an
    /// unfinished body, a head cutover could not follow).
    fn closes(self) -> bool {
        !matches!(
            self,
            PublicError::NoUpstream
                | PublicError::UpstreamFailed
                | PublicError::UpstreamBrokeOff
                | PublicError::UpstreamTimedOut
                | PublicError::Drained
        )
    }

    /// The body: `502 Bad Gateway: the service did not answer`.
    pub fn text(self) -> String {
        format!("{}: {}\n", self.status(), self.reason())
    }

    pub fn response(self) -> Response<ProxyBody> {
        let mut r = Response::new(ProxyBody::full(self.text()));
        *r.status_mut() = self.status();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.closes() {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_status_lines() {
        let table = [
            (
                PublicError::UpstreamFailed,
                "502 Bad Gateway: the service did not answer\n",
                false,
            ),
            (
                PublicError::UpstreamTimedOut,
                "504 Gateway Timeout: the service did not answer in time\n",
                false,
            ),
            (
                PublicError::NoUpstream,
                "503 Service Unavailable: no instance of the service is ready to answer\n",
                false,
            ),
            (
                PublicError::ClientTimedOut,
                "408 Request Timeout: the request body did not arrive in time\n",
                true,
            ),
            (
                PublicError::Refused(StatusCode::NOT_IMPLEMENTED, "no"),
                "501 Not Implemented: no\n",
                true,
            ),
        ];
        for (e, text, closes) in table {
            assert_eq!(e.text(), text);
            let r = e.response();
            assert_eq!(r.status(), e.status());
            assert_eq!(r.headers().get("connection").is_some(), closes, "{e:?}");
        }
    }
}
