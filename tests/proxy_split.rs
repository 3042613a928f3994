//! The weighted split through real sockets: shares, flips under load, a
//! killed upstream, sticky keys. Upstreams are in-test servers on port 0.

use crate::support::proxy as support;

use cutover::model::Role;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;

async fn setup(weight: u16) -> (Proxy, Upstream, Upstream) {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let proxy = Proxy::start(route_header_plan()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy
        .router
        .set_members(Role::Canary, vec![canary.addr.to_string()]);
    proxy.router.set_weight(weight);
    (proxy, stable, canary)
}

async fn send_many(proxy: &Proxy, n: usize) -> BTreeMap<String, usize> {
    let client = client();
    let mut counts = BTreeMap::new();
    let per_task = n / 4;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        let url = proxy.url("/");
        tasks.push(tokio::spawn(async move {
            let mut local = BTreeMap::<String, usize>::new();
            for _ in 0..per_task {
                let r = client.get(&url).send().await.expect("request");
                assert_eq!(r.status(), 200);
                let v = r.headers()["x-version"].to_str().unwrap().to_string();
                *local.entry(v).or_default() += 1;
            }
            local
        }));
    }
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *counts.entry(k).or_default() += v;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_0_250_1000_split_4000_requests() {
    // The sequence split gives every 1,000 consecutive requests exactly the
    // weight (the issue asks for 1000 ± 60 at 250 ‰; random draws missed it).
    for (weight, lo, hi) in [
        (0u16, 0usize, 0usize),
        (250, 1000, 1000),
        (1000, 4000, 4000),
    ] {
        let (proxy, _s, _c) = setup(weight).await;
        let counts = send_many(&proxy, 4000).await;
        let canary = counts.get("canary").copied().unwrap_or(0);
        let stable = counts.get("stable").copied().unwrap_or(0);
        assert_eq!(canary + stable, 4000, "{counts:?}");
        assert!(
            (lo..=hi).contains(&canary),
            "weight {weight}: canary got {canary} of 4000"
        );
        let m = proxy.router.metrics();
        assert_eq!(
            m.stats(Role::Canary, std::time::Duration::from_secs(60))
                .requests as usize,
            canary
        );
        assert_eq!(
            m.stats(Role::Stable, std::time::Duration::from_secs(60))
                .requests as usize,
            stable
        );
    }
}

/// Flip 0 ↔ 1000 fifty times while two clients hammer the proxy: nothing
/// fails, and every answer came from the version the table it was routed
/// by said (the route header carries the table generation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipping_weights_under_load_never_fails_or_misroutes() {
    let (proxy, _s, _c) = setup(0).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut generations = BTreeMap::new();
    generations.insert(proxy.router.generation(), 0u16);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = client();
        let url = proxy.url("/");
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .get(&url)
                    .send()
                    .await
                    .expect("request must not fail");
                assert_eq!(r.status(), 200);
                let version = r.headers()["x-version"].to_str().unwrap().to_string();
                let route = r.headers()["x-cutover-route"].to_str().unwrap().to_string();
                seen.push((version, route));
            }
            seen
        }));
    }
    for i in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let w = if i % 2 == 0 { 1000 } else { 0 };
        proxy.router.set_weight(w);
        generations.insert(proxy.router.generation(), w);
    }
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut per_version = BTreeMap::<String, usize>::new();
    for c in clients {
        for (version, route) in c.await.unwrap() {
            total += 1;
            let (role, generation) = route.split_once(' ').unwrap();
            let weight = generations[&generation.parse::<u64>().unwrap()];
            let expected = if weight == 1000 { "canary" } else { "stable" };
            assert_eq!(
                role, expected,
                "routed by generation {generation} (weight {weight})"
            );
            assert_eq!(version, expected);
            *per_version.entry(version).or_default() += 1;
        }
    }
    assert!(total > 100, "only {total} requests were sent");
    assert_eq!(
        per_version.len(),
        2,
        "both versions served: {per_version:?}"
    );
}

/// An upstream killed mid-run: its failures are 502s counted on its own
/// version, the other version never errors, and clients are still served
/// (a request that could not connect is retried on a live member).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_upstream_counts_502_on_its_version_only() {
    let (proxy, stable, mut canary) = setup(500).await;
    let client = client();
    for _ in 0..200 {
        assert_eq!(
            client.get(proxy.url("/")).send().await.unwrap().status(),
            200
        );
    }
    canary.kill();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for _ in 0..400 {
        let r = client.get(proxy.url("/")).send().await.unwrap();
        *statuses.entry(r.status().as_u16()).or_default() += 1;
    }
    let m = proxy.router.metrics();
    let window = std::time::Duration::from_secs(60);
    let c = m.stats(Role::Canary, window);
    let s = m.stats(Role::Stable, window);
    assert!(
        c.status_502 > 0,
        "the dead canary's failures are counted on it: {c:?}"
    );
    assert_eq!(c.errors, c.status_502);
    assert_eq!(s.errors, 0, "stable never errors: {s:?}");
    assert_eq!(
        statuses.get(&200).copied().unwrap_or(0),
        400,
        "every request served: {statuses:?}"
    );
    assert!(stable.served() >= 400);
}

/// Sticky split: 1,000 keys, weight 100 → 200 ‰: only stable → canary moves,
/// about 100 of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_keys_move_only_stable_to_canary() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let plan = cutover::plan::ProxyPlan {
        sticky: Some(cutover::plan::Sticky::Header("x-user".into())),
        ..route_header_plan()
    };
    let proxy = Proxy::start(plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy
        .router
        .set_members(Role::Canary, vec![canary.addr.to_string()]);
    let client = client();
    let run = async |weight: u16| {
        proxy.router.set_weight(weight);
        let mut out = Vec::new();
        for i in 0..1000 {
            let r = client
                .get(proxy.url("/"))
                .header("x-user", format!("user-{i}"))
                .send()
                .await
                .unwrap();
            out.push(r.headers()["x-version"].to_str().unwrap().to_string());
        }
        out
    };
    let before = run(100).await;
    let again = run(100).await;
    assert_eq!(before, again, "same weight, same versions");
    let after = run(200).await;
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            assert_eq!((b.as_str(), a.as_str()), ("stable", "canary"));
            moved += 1;
        }
    }
    assert!((70..=130).contains(&moved), "{moved} keys moved");
}

/// Across a pool's members: round-robin gives each member exactly its turn;
/// least-in-flight sends new requests to the member that is not busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_and_least_in_flight_across_members() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![a.addr.to_string(), b.addr.to_string()]);
    let counts = send_many(&proxy, 400).await;
    assert_eq!(counts.get("a"), Some(&200), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&200), "{counts:?}");

    // Least in flight: `slow` holds every request it gets for 2 s, so once
    // it has one, every other request goes to `fast`.
    let slow = Upstream::start_with(
        "slow",
        Behaviour {
            status: 200,
            delay: std::time::Duration::from_secs(2),
        },
    )
    .await;
    let fast = Upstream::start("fast").await;
    let proxy = Proxy::start(cutover::plan::ProxyPlan {
        balance: cutover::plan::Balance::LeastInFlight,
        ..Default::default()
    })
    .await;
    proxy.router.set_members(
        Role::Stable,
        vec![slow.addr.to_string(), fast.addr.to_string()],
    );
    let c = client();
    let mut held = Vec::new();
    // Two concurrent requests: one lands on each member (both idle at first).
    for _ in 0..2 {
        let (c, url) = (c.clone(), proxy.url("/"));
        held.push(tokio::spawn(
            async move { c.get(url).send().await.unwrap() },
        ));
    }
    assert!(
        became_true_within(|| proxy.router.metrics().in_flight(Role::Stable) >= 1).await,
        "the slow member holds a request"
    );
    let mut versions = BTreeMap::<String, usize>::new();
    for _ in 0..50 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        *versions
            .entry(r.headers()["x-version"].to_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(versions.get("fast"), Some(&50), "{versions:?}");
    for h in held {
        assert_eq!(h.await.unwrap().status(), 200);
    }
}
