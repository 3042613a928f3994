//! The load generator (`cutover load`, and the traffic of `cutover demo`).
//!
//! `concurrency` workers each send at `rps / concurrency` requests a second
//! over keep-alive connections until the duration ends or `stop` fires —
//! always bounded. Every answer is counted by status class and by the
//! `X-Version` header the demo app sets, with latencies in a histogram.

use color_eyre::eyre::{Result, eyre};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// What came back.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LoadSummary {
    pub requests: u64,
    pub ok: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub status_502: u64,
    pub status_503: u64,
    pub status_504: u64,
    /// No HTTP answer at all: connection refused, reset, timeout.
    pub transport_errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub elapsed_s: f64,
    pub achieved_rps: f64,
    /// Answers per `X-Version` header value.
    pub by_version: BTreeMap<String, u64>,
}

impl LoadSummary {
    /// `1200 requests, 1180 ok, 20 5xx (20 502), 0 transport errors, p50 1.2 ms, p99 8.0 ms`
    pub fn one_line(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1} ms"));
        format!(
            "{} requests, {} ok, {} 4xx, {} 5xx ({} 502, {} 503, {} 504), {} transport errors, p50 {}, p99 {}, {:.0} req/s",
            self.requests,
            self.ok,
            self.status_4xx,
            self.status_5xx,
            self.status_502,
            self.status_503,
            self.status_504,
            self.transport_errors,
            ms(self.p50_ms),
            ms(self.p99_ms),
            self.achieved_rps
        )
    }

    fn count(&mut self, status: Option<u16>, version: Option<String>) {
        self.requests += 1;
        match status {
            None => self.transport_errors += 1,
            Some(s) => {
                match s {
                    200..=299 => self.status_2xx += 1,
                    300..=399 => self.status_3xx += 1,
                    400..=499 => self.status_4xx += 1,
                    _ => self.status_5xx += 1,
                }
                match s {
                    502 => self.status_502 += 1,
                    503 => self.status_503 += 1,
                    504 => self.status_504 += 1,
                    _ => {}
                }
                if s < 400 {
                    self.ok += 1;
                }
                if let Some(v) = version {
                    *self.by_version.entry(v).or_default() += 1;
                }
            }
        }
    }
}

struct Shared {
    summary: LoadSummary,
    latency: Histogram<u32>,
}

/// Send load to `url` until `duration` passes or `stop` resolves, silently
/// (the demo runs it under the cockpit, which owns the terminal).
pub async fn generate(
    url: &str,
    rps: f64,
    duration: Duration,
    concurrency: usize,
    stop: impl Future<Output = ()>,
) -> LoadSummary {
    generate_with(url, rps, duration, concurrency, stop, false).await
}

/// [`generate`], with a live progress line on stderr when `progress`.
pub async fn generate_with(
    url: &str,
    rps: f64,
    duration: Duration,
    concurrency: usize,
    stop: impl Future<Output = ()>,
    progress: bool,
) -> LoadSummary {
    let concurrency = concurrency.clamp(1, 1024);
    let rps = if rps.is_finite() && rps > 0.0 {
        rps
    } else {
        1.0
    };
    let shared = Arc::new(Mutex::new(Shared {
        summary: LoadSummary::default(),
        latency: Histogram::new_with_bounds(1, 60_000_000, 2).expect("static bounds"),
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("a plain HTTP client builds");
    let started = Instant::now();
    let deadline = started + duration;
    let per_worker = Duration::from_secs_f64(concurrency as f64 / rps);
    // A JoinSet aborts what is left in it when dropped: a generator whose
    // future is dropped half-way (its task aborted) leaves no worker behind.
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        // Stagger the workers so the load is smooth, not bursts.
        let first = started + per_worker.mul_f64(i as f64 / concurrency as f64);
        workers.spawn(worker(
            client.clone(),
            url.to_string(),
            shared.clone(),
            tokio::time::interval_at(first, per_worker),
            deadline,
        ));
    }
    let print_progress = {
        let shared = shared.clone();
        move || print_progress(&shared, started)
    };
    let mut progress = progress.then(|| {
        let print = print_progress.clone();
        let mut task = tokio::task::JoinSet::new();
        task.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                print();
            }
        });
        task
    });
    tokio::select! {
        _ = async { while workers.join_next().await.is_some() {} } => {}
        _ = stop => {}
    }
    // On `stop` the workers are still running: end them here, and wait until
    // they are gone, so no request leaves after this returns (the demo stops
    // its daemon next; a worker left behind would keep knocking on it).
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    if let Some(p) = progress.as_mut() {
        p.abort_all();
        while p.join_next().await.is_some() {}
        // The last line shows the final figures, not those of 250 ms ago.
        print_progress();
        eprintln!();
    }
    let s = shared.lock().unwrap_or_else(|e| e.into_inner());
    s.summary_at(started)
}

/// One worker: a request at each tick of `tick` until `deadline`, each
/// answer counted in `shared`.
async fn worker(
    client: reqwest::Client,
    url: String,
    shared: Arc<Mutex<Shared>>,
    mut tick: tokio::time::Interval,
    deadline: Instant,
) {
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        let (status, version) = send(&client, &url).await;
        let us = t0.elapsed().as_micros().clamp(1, 60_000_000) as u64;
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.summary.count(status, version);
        if status.is_some() {
            let _ = s.latency.record(us);
        }
    }
}

/// One request: its status and `X-Version` (none: no HTTP answer).
async fn send(client: &reqwest::Client, url: &str) -> (Option<u16>, Option<String>) {
    match client.get(url).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let version = resp
                .headers()
                .get("x-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Read the body so the connection is reused.
            let _ = resp.bytes().await;
            (Some(status), version)
        }
        Err(_) => (None, None),
    }
}

/// The progress line, redrawn in place on stderr.
fn print_progress(shared: &Mutex<Shared>, started: Instant) {
    let s = shared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .summary
        .clone();
    eprint!(
        "\r{:6.1} s  {} requests  {} ok  {} 4xx  {} 5xx  {} transport errors   ",
        started.elapsed().as_secs_f64(),
        s.requests,
        s.ok,
        s.status_4xx,
        s.status_5xx,
        s.transport_errors
    );
}

impl Shared {
    /// The summary, with its latencies and rate, of a run begun at `started`.
    fn summary_at(&self, started: Instant) -> LoadSummary {
        let mut out = self.summary.clone();
        let q = |q: f64| {
            (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64 / 1000.0)
        };
        out.p50_ms = q(0.5);
        out.p99_ms = q(0.99);
        out.max_ms = (!self.latency.is_empty()).then(|| self.latency.max() as f64 / 1000.0);
        out.elapsed_s = started.elapsed().as_secs_f64();
        out.achieved_rps = out.requests as f64 / out.elapsed_s.max(0.001);
        out
    }
}

/// `cutover load URL --rps N --duration D [--concurrency C] [--json]`.
pub async fn run(args: &crate::cli::LoadArgs) -> Result<u8> {
    // --rps and --concurrency were range-checked by the command line.
    let duration = args.duration;
    let url = reqwest::Url::parse(&args.url).map_err(|e| eyre!("{}: not a URL: {e}", args.url))?;
    let summary = generate_with(
        url.as_str(),
        args.rps,
        duration.get(),
        args.concurrency,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        std::io::stderr().is_terminal(),
    )
    .await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.one_line());
        for (v, n) in &summary.by_version {
            println!("  X-Version {v}: {n}");
        }
    }
    Ok(0)
}
