//! Prometheus text exposition (format 0.0.4) of the per-version metrics.
//!
//! Every `*_total` family is a true counter: lifetime counts since the daemon
//! started, which never go down (so `rate()` works). Figures over a sliding
//! window are gauges and say which window in a `window` label. The latency
//! summary's quantiles, `_sum` and `_count` all describe the same 60-second
//! window (labelled so): for request rates use `cutover_requests_total`.

use super::{Lifetime, Metrics};
use crate::model::Role;
use std::fmt::Write;
use std::time::Duration;

/// The window of the `cutover_window_*` gauges.
const COUNT_WINDOW: (Duration, &str) = (Duration::from_secs(300), "5m");
/// The window of the latency summary.
const LATENCY_WINDOW: (Duration, &str) = (Duration::from_secs(60), "60s");

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const GATEWAY: [&str; 3] = ["502", "503", "504"];

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The labels of every series: the service, and per version its role and
/// its version string (`role="canary",version="v2"`), so a dashboard can
/// follow a version across its promotion.
pub(super) struct Labels {
    service: String,
    roles: [String; 2],
}

impl Labels {
    fn new(service: &str, versions: [&str; 2]) -> Labels {
        let service = escape(service);
        let roles = [Role::Stable, Role::Canary].map(|r| {
            format!(
                "service=\"{service}\",role=\"{r}\",version=\"{}\"",
                escape(versions[r.index()])
            )
        });
        Labels { service, roles }
    }

    fn of(&self, role: impl std::borrow::Borrow<Role>) -> &str {
        &self.roles[role.borrow().index()]
    }
}

/// `versions`: stable's and the canary's version strings (empty when there
/// is no canary).
pub(super) fn render(
    m: &Metrics,
    service: &str,
    weight_permille: u16,
    versions: [&str; 2],
) -> String {
    let mut out = String::with_capacity(4096);
    let labels = Labels::new(service, versions);
    let svc = &labels.service;
    family(
        &mut out,
        "cutover_canary_weight_permille",
        "gauge",
        "Share of new requests sent to the canary, per mille.",
    );
    let _ = writeln!(
        out,
        "cutover_canary_weight_permille{{service=\"{svc}\"}} {weight_permille}"
    );

    lifetime_counters(&mut out, m, &labels);
    gauges_now(&mut out, m, &labels);
    window_gauges(&mut out, m, &labels);
    latency_summary(&mut out, m, &labels);
    out
}

/// The `*_total` counters: lifetime counts per version since the daemon started.
fn lifetime_counters(out: &mut String, m: &Metrics, labels: &Labels) {
    let life: Vec<(Role, Lifetime)> = Role::ALL.iter().map(|r| (*r, m.lifetime(*r))).collect();
    family(
        out,
        "cutover_requests_total",
        "counter",
        "Requests answered since the daemon started, by version and status class.",
    );
    for (role, l) in &life {
        for (class, n) in CLASSES.iter().zip(l.by_class) {
            let lab = labels.of(role);
            let _ = writeln!(out, "cutover_requests_total{{{lab},class=\"{class}\"}} {n}");
        }
    }
    family(
        out,
        "cutover_errors_total",
        "counter",
        "5xx answers (cutover's own 502/503/504 included) since the daemon started.",
    );
    for (role, l) in &life {
        let lab = labels.of(role);
        let _ = writeln!(out, "cutover_errors_total{{{lab}}} {}", l.errors);
    }
    family(
        out,
        "cutover_gateway_errors_total",
        "counter",
        "502/503/504 answers since the daemon started, by status.",
    );
    for (role, l) in &life {
        for (code, n) in GATEWAY.iter().zip(l.gateway) {
            let lab = labels.of(role);
            let _ = writeln!(
                out,
                "cutover_gateway_errors_total{{{lab},code=\"{code}\"}} {n}"
            );
        }
    }
    family(
        out,
        "cutover_aborted_total",
        "counter",
        "Requests the client abandoned before the answer ended (not the version's errors), since the daemon started.",
    );
    for (role, l) in &life {
        let lab = labels.of(role);
        let _ = writeln!(out, "cutover_aborted_total{{{lab}}} {}", l.aborted);
    }
    family(
        out,
        "cutover_client_timeouts_total",
        "counter",
        "Requests answered 408 because the client did not finish sending its body in time (not the version's errors), since the daemon started.",
    );
    for (role, l) in &life {
        let lab = labels.of(role);
        let _ = writeln!(
            out,
            "cutover_client_timeouts_total{{{lab}}} {}",
            l.client_timeouts
        );
    }
}

/// Connections and requests open now.
fn gauges_now(out: &mut String, m: &Metrics, labels: &Labels) {
    let svc = &labels.service;
    family(
        out,
        "cutover_public_connections",
        "gauge",
        "Public client connections open now.",
    );
    let _ = writeln!(
        out,
        "cutover_public_connections{{service=\"{svc}\"}} {}",
        m.public_connections()
    );
    family(
        out,
        "cutover_public_connections_limit",
        "gauge",
        "The cap on open public connections (proxy.max_connections); past it new ones wait in the listen backlog.",
    );
    let _ = writeln!(
        out,
        "cutover_public_connections_limit{{service=\"{svc}\"}} {}",
        m.public_connection_limit()
    );
    family(out, "cutover_in_flight", "gauge", "Requests in flight.");
    for role in Role::ALL {
        let lab = labels.of(role);
        let _ = writeln!(out, "cutover_in_flight{{{lab}}} {}", m.in_flight(role));
    }
}

/// Counts over the sliding [`COUNT_WINDOW`], labelled with it.
fn window_gauges(out: &mut String, m: &Metrics, labels: &Labels) {
    let (span, w) = COUNT_WINDOW;
    let windowed: Vec<_> = Role::ALL
        .iter()
        .map(|r| (*r, m.merged(*r, span).counts))
        .collect();
    family(
        out,
        "cutover_window_requests",
        "gauge",
        "Requests answered in the sliding window, by version and status class.",
    );
    for (role, c) in &windowed {
        for (class, n) in CLASSES[1..].iter().zip([c.s2xx, c.s3xx, c.s4xx, c.s5xx]) {
            let lab = labels.of(role);
            let _ = writeln!(
                out,
                "cutover_window_requests{{{lab},class=\"{class}\",window=\"{w}\"}} {n}"
            );
        }
    }
    family(
        out,
        "cutover_window_gateway_errors",
        "gauge",
        "502/503/504 answers in the sliding window, by status.",
    );
    for (role, c) in &windowed {
        for (code, n) in GATEWAY.iter().zip([c.s502, c.s503, c.s504]) {
            let lab = labels.of(role);
            let _ = writeln!(
                out,
                "cutover_window_gateway_errors{{{lab},code=\"{code}\",window=\"{w}\"}} {n}"
            );
        }
    }
}

/// The latency summary over [`LATENCY_WINDOW`]: quantiles, `_sum` and `_count`.
fn latency_summary(out: &mut String, m: &Metrics, labels: &Labels) {
    let (span, w) = LATENCY_WINDOW;
    family(
        out,
        "cutover_latency_seconds",
        "summary",
        "Time to the response head; quantiles, _sum and _count over the same sliding window.",
    );
    for role in Role::ALL {
        let merged = m.merged(role, span);
        for q in [0.5, 0.99] {
            if let Some(ms) = merged.quantile_ms(q) {
                let lab = labels.of(role);
                let _ = writeln!(
                    out,
                    "cutover_latency_seconds{{{lab},window=\"{w}\",quantile=\"{q}\"}} {}",
                    ms / 1000.0
                );
            }
        }
        let lab = labels.of(role);
        let _ = writeln!(
            out,
            "cutover_latency_seconds_sum{{{lab},window=\"{w}\"}} {}",
            merged.latency_sum_us as f64 / 1e6
        );
        let lab = labels.of(role);
        let _ = writeln!(
            out,
            "cutover_latency_seconds_count{{{lab},window=\"{w}\"}} {}",
            merged.latency.len()
        );
    }
}

/// Several services' expositions as one, for a daemon that serves them
/// all (`[[services]]`): the text format allows each family once, so each
/// family's `# HELP` and `# TYPE` come once, followed by every service's
/// samples of it, in the order the families first appear. Every series
/// already carries its `service` label.
pub fn merge(texts: &[String]) -> String {
    #[derive(Default)]
    struct Family {
        head: String,
        samples: String,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut families: std::collections::HashMap<&str, Family> = Default::default();
    for text in texts {
        let mut current = "";
        for line in text.lines() {
            let comment = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "));
            if let Some(rest) = comment {
                current = rest.split(' ').next().unwrap_or("");
                let family = families.entry(current).or_insert_with(|| {
                    order.push(current);
                    Family::default()
                });
                // The first text's head lines stand for every text's.
                if family.samples.is_empty() && family.head.lines().count() < 2 {
                    let _ = writeln!(family.head, "{line}");
                }
                continue;
            }
            if let Some(family) = families.get_mut(current) {
                let _ = writeln!(family.samples, "{line}");
            }
        }
    }
    let mut out = String::new();
    for name in order {
        let f = &families[name];
        out.push_str(&f.head);
        out.push_str(&f.samples);
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

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn several_services_make_one_exposition_with_each_family_once() {
        let a = render(&Metrics::new(), "shop", 100, ["v1", "v2"]);
        let b = render(&Metrics::new(), "api", 0, ["v7", ""]);
        let both = merge(&[a.clone(), b.clone()]);
        for kind in ["# HELP ", "# TYPE "] {
            let heads: Vec<&str> = both.lines().filter(|l| l.starts_with(kind)).collect();
            let once: std::collections::HashSet<&&str> = heads.iter().collect();
            assert_eq!(heads.len(), once.len(), "a family twice:\n{both}");
            assert_eq!(
                heads.len(),
                a.lines().filter(|l| l.starts_with(kind)).count()
            );
        }
        // Every sample of either service is there, under its own family.
        let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples(&both), samples(&a) + samples(&b));
        assert_eq!(
            value(&both, "cutover_canary_weight_permille{service=\"shop\"}"),
            100.0
        );
        assert_eq!(
            value(&both, "cutover_canary_weight_permille{service=\"api\"}"),
            0.0
        );
        // A family's samples follow its own head, not the next family's.
        let mut family = "";
        for line in both.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(family), "{line} outside {family}");
            }
        }
        assert_eq!(merge(std::slice::from_ref(&a)), a, "one service: as it was");
    }

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        m.start(Role::Canary).finish(502, Duration::from_millis(3));
        m.start(Role::Stable).finish(200, Duration::from_millis(1));
        let text = m.prometheus("sh\"op", 250, ["v1", "v2 \"beta\""]);
        assert!(text.contains("cutover_canary_weight_permille{service=\"sh\\\"op\"} 250"));
        assert!(text.contains("cutover_errors_total{service=\"sh\\\"op\",role=\"canary\",version=\"v2 \\\"beta\\\"\"} 1"));
        assert!(text.contains("code=\"502\"} 1"));
        assert!(text.contains(
            "cutover_latency_seconds{service=\"sh\\\"op\",role=\"stable\",version=\"v1\",window=\"60s\",quantile=\"0.99\"}"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        // Every *_total family is declared a counter, every windowed one a gauge.
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut w = line.split(' ').skip(2);
            let (name, kind) = (w.next().unwrap(), w.next().unwrap());
            if name.ends_with("_total") {
                assert_eq!(kind, "counter", "{line}");
            }
        }
        for line in text.lines().filter(|l| l.contains("window=")) {
            assert!(
                line.starts_with("cutover_window_") || line.starts_with("cutover_latency_seconds"),
                "{line}"
            );
        }
    }

    /// Counters are lifetime counts: they survive the window's reset and the
    /// window sliding past (the old exposition emitted 5-minute figures
    /// under `_total`, which went down and broke `rate()`).
    #[test]
    fn counters_never_go_down_and_windows_say_so() {
        let (m, clock) = Metrics::manual();
        let advance = |s: u64| clock.fetch_add(s, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..3 {
            m.start(Role::Canary).finish(200, Duration::from_millis(2));
        }
        m.start(Role::Canary).finish(504, Duration::from_millis(4));
        let ok =
            "cutover_requests_total{service=\"s\",role=\"canary\",version=\"v2\",class=\"2xx\"}";
        let win = "cutover_window_requests{service=\"s\",role=\"canary\",version=\"v2\",class=\"2xx\",window=\"5m\"}";
        let gw = "cutover_gateway_errors_total{service=\"s\",role=\"canary\",version=\"v2\",code=\"504\"}";
        let count = "cutover_latency_seconds_count{service=\"s\",role=\"canary\",version=\"v2\",window=\"60s\"}";
        let sum = "cutover_latency_seconds_sum{service=\"s\",role=\"canary\",version=\"v2\",window=\"60s\"}";
        let t0 = m.prometheus("s", 0, ["v1", "v2"]);
        assert_eq!(
            (value(&t0, ok), value(&t0, win), value(&t0, gw)),
            (3.0, 3.0, 1.0)
        );
        assert_eq!(value(&t0, count), 4.0);
        assert!(
            (value(&t0, sum) - 0.010).abs() < 1e-9,
            "{}",
            value(&t0, sum)
        );

        // 61 s later the latency window is empty, the 5-minute one is not.
        advance(61);
        let t1 = m.prometheus("s", 0, ["v1", "v2"]);
        assert_eq!((value(&t1, count), value(&t1, sum)), (0.0, 0.0));
        assert_eq!(value(&t1, win), 3.0);

        // Past five minutes and after a window reset: the gauge drops, the
        // counters do not.
        advance(300);
        m.reset(Role::Canary);
        m.start(Role::Canary).finish(200, Duration::from_millis(1));
        let t2 = m.prometheus("s", 0, ["v1", "v2"]);
        assert_eq!(value(&t2, win), 1.0);
        assert_eq!(value(&t2, ok), 4.0);
        assert_eq!(value(&t2, gw), 1.0);
        assert_eq!(value(&t2, count), 1.0);
    }
}
