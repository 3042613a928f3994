//! Prometheus text exposition (format 0.0.4) of the per-version metrics.

use super::Metrics;
use crate::model::Role;
use std::fmt::Write;
use std::time::Duration;

pub(super) fn render(m: &Metrics, service: &str, weight_permille: u16) -> String {
    let mut out = String::with_capacity(2048);
    let svc = escape(service);
    let _ = writeln!(
        out,
        "# HELP cutover_canary_weight_permille Share of new requests sent to the canary, per mille."
    );
    let _ = writeln!(out, "# TYPE cutover_canary_weight_permille gauge");
    let _ = writeln!(
        out,
        "cutover_canary_weight_permille{{service=\"{svc}\"}} {weight_permille}"
    );
    let _ = writeln!(
        out,
        "# HELP cutover_requests_total Requests answered, by version and status class."
    );
    let _ = writeln!(out, "# TYPE cutover_requests_total counter");
    let lifetime: Vec<_> = Role::ALL
        .iter()
        .map(|r| (*r, m.stats(*r, Duration::from_secs(300))))
        .collect();
    for (role, s) in &lifetime {
        for (class, n) in [
            ("2xx", s.status_2xx),
            ("3xx", s.status_3xx),
            ("4xx", s.status_4xx),
            ("5xx", s.status_5xx),
        ] {
            let _ = writeln!(
                out,
                "cutover_requests_total{{service=\"{svc}\",version=\"{role}\",class=\"{class}\",window=\"5m\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP cutover_requests_lifetime_total Requests answered since the daemon started."
    );
    let _ = writeln!(out, "# TYPE cutover_requests_lifetime_total counter");
    for (role, s) in &lifetime {
        let _ = writeln!(
            out,
            "cutover_requests_lifetime_total{{service=\"{svc}\",version=\"{role}\"}} {}",
            s.total_requests
        );
    }
    let _ = writeln!(
        out,
        "# HELP cutover_errors_total 5xx answers (cutover's own 502/503/504 included) since the daemon started."
    );
    let _ = writeln!(out, "# TYPE cutover_errors_total counter");
    for (role, s) in &lifetime {
        let _ = writeln!(
            out,
            "cutover_errors_total{{service=\"{svc}\",version=\"{role}\"}} {}",
            s.total_errors
        );
    }
    let _ = writeln!(
        out,
        "# HELP cutover_gateway_errors Answers cutover itself gave in the last 5 minutes, by status."
    );
    let _ = writeln!(out, "# TYPE cutover_gateway_errors gauge");
    for (role, s) in &lifetime {
        for (code, n) in [
            ("502", s.status_502),
            ("503", s.status_503),
            ("504", s.status_504),
        ] {
            let _ = writeln!(
                out,
                "cutover_gateway_errors{{service=\"{svc}\",version=\"{role}\",code=\"{code}\"}} {n}"
            );
        }
    }
    let _ = writeln!(out, "# HELP cutover_in_flight Requests in flight.");
    let _ = writeln!(out, "# TYPE cutover_in_flight gauge");
    for (role, s) in &lifetime {
        let _ = writeln!(
            out,
            "cutover_in_flight{{service=\"{svc}\",version=\"{role}\"}} {}",
            s.in_flight
        );
    }
    let _ = writeln!(
        out,
        "# HELP cutover_latency_seconds Time to the response head over the last 60 s."
    );
    let _ = writeln!(out, "# TYPE cutover_latency_seconds summary");
    for role in Role::ALL {
        let s = m.stats(role, Duration::from_secs(60));
        for (q, v) in [("0.5", s.p50_ms), ("0.99", s.p99_ms)] {
            if let Some(ms) = v {
                let _ = writeln!(
                    out,
                    "cutover_latency_seconds{{service=\"{svc}\",version=\"{role}\",quantile=\"{q}\"}} {}",
                    ms / 1000.0
                );
            }
        }
        let _ = writeln!(
            out,
            "cutover_latency_seconds_count{{service=\"{svc}\",version=\"{role}\"}} {}",
            s.requests
        );
    }
    out
}

/// Label values escape backslash, quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        m.start(Role::Canary).finish(502, Duration::from_millis(3));
        m.start(Role::Stable).finish(200, Duration::from_millis(1));
        let text = m.prometheus("sh\"op", 250);
        assert!(text.contains("cutover_canary_weight_permille{service=\"sh\\\"op\"} 250"));
        assert!(text.contains("cutover_errors_total{service=\"sh\\\"op\",version=\"canary\"} 1"));
        assert!(text.contains("code=\"502\"} 1"));
        assert!(text.contains(
            "cutover_latency_seconds{service=\"sh\\\"op\",version=\"stable\",quantile=\"0.99\"}"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
