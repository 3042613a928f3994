//! Preview routing through real sockets: with the canary at weight 0,
//! testers allowed by `[proxy.preview]` — by their network (the test's
//! client bound to 127.0.0.2) or by the plan's secret — reach the canary on
//! every request; anyone else asking for it gets the weight's answer
//! (stable) every time. (That the two preview headers are removed before a
//! request goes upstream is `proxy::preview`'s unit test.)

use crate::support::proxy::{Proxy, Upstream};
use cutover::model::Role;
use cutover::plan::{PreviewPlan, ProxyPlan};
use std::net::IpAddr;

const SECRET: &str = "testers-only-0123456789";

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Which version answered each of `n` requests.
async fn versions(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let mut req = http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success());
        seen.push(r.headers()["x-version"].to_str().unwrap().to_string());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_testers_always_reach_the_canary_at_weight_0_and_others_never_do() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let plan = ProxyPlan {
        preview: Some(PreviewPlan {
            allow: vec!["127.0.0.2/32".into()],
            secret: Some(SECRET.into()),
            aliases: [("beta".to_string(), "canary".to_string())].into(),
        }),
        ..ProxyPlan::default()
    };
    let proxy = Proxy::start(plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy
        .router
        .set_members(Role::Canary, vec![canary.addr.to_string()]);
    proxy.router.set_weight(0);
    let url = proxy.url("/");
    let all = |v: &[String], name: &str| v.iter().all(|x| x == name);

    // Testers on the allowed network: by name, by alias, by cookie.
    let tester = client_from("127.0.0.2");
    for h in [
        [("x-cutover-version", "canary")],
        [("x-cutover-version", "beta")],
        [("cookie", "cutover-version=canary")],
    ] {
        let v = versions(&tester, &url, &h, 50).await;
        assert!(all(&v, "canary"), "{h:?}: {v:?}");
    }
    // Or by the version's own string, as the controller publishes it.
    proxy.router.set_version_names(["1.4.2", "1.5.0-rc.1"]);
    let v = versions(&tester, &url, &[("x-cutover-version", "1.5.0-RC.1")], 20).await;
    assert!(all(&v, "canary"), "{v:?}");
    let v = versions(&tester, &url, &[("x-cutover-version", "1.4.2")], 20).await;
    assert!(all(&v, "stable"), "{v:?}");
    // Without asking, testers get the weight like everyone.
    assert!(all(&versions(&tester, &url, &[], 20).await, "stable"));

    // Anyone else: the header alone, or with a wrong secret, changes nothing.
    let other = client_from("127.0.0.1");
    for h in [
        vec![("x-cutover-version", "canary")],
        vec![
            ("x-cutover-version", "canary"),
            ("x-cutover-preview", "a-guess-of-the-secret"),
        ],
    ] {
        let v = versions(&other, &url, &h, 100).await;
        assert!(all(&v, "stable"), "{h:?}: {v:?}");
    }
    // With the secret (header or cookie), they are testers too.
    let v = versions(
        &other,
        &url,
        &[
            ("x-cutover-version", "canary"),
            ("x-cutover-preview", SECRET),
        ],
        30,
    )
    .await;
    assert!(all(&v, "canary"), "{v:?}");
    let cookie = format!("cutover-version=canary; cutover-preview={SECRET}");
    let v = versions(&other, &url, &[("cookie", &cookie)], 30).await;
    assert!(all(&v, "canary"), "{v:?}");

    // A canary that does not serve is never chosen: the tester gets stable.
    proxy.router.set_members(Role::Canary, vec![]);
    let v = versions(&tester, &url, &[("x-cutover-version", "canary")], 10).await;
    assert!(all(&v, "stable"), "{v:?}");
}

/// Through a real daemon: the controller publishes the versions' strings,
/// so a tester names the canary by its version (`1.5.0`) at weight 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_lets_testers_name_the_canary_by_its_version() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let text = format!(
        "service = \"preview\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nversion = \"1.4.2\"\nupstreams = [\"{}\"]\n[canary]\nversion = \"1.5.0\"\nupstreams = [\"{}\"]\n\
         [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n\
         [proxy.preview]\nallow = [\"127.0.0.2\"]\n",
        stable.addr, canary.addr
    );
    let plan = cutover::plan::parse(&text, "preview.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = cutover::daemon::start(cutover::daemon::DaemonConfig::new(
        plan,
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    let client = daemon.client();
    crate::support::wait::eventually_async(20, "the canary at 0 %", || {
        let client = client.clone();
        async move {
            client
                .state()
                .await
                .is_ok_and(|s| s.phase == cutover::model::Phase::Canary)
        }
    })
    .await;
    assert_eq!(client.state().await.unwrap().weight_permille, 0);
    let url = format!("http://{}/", daemon.public_addr);
    let tester = client_from("127.0.0.2");
    let v = versions(&tester, &url, &[("x-cutover-version", "1.5.0")], 20).await;
    assert!(v.iter().all(|x| x == "canary"), "{v:?}");
    let other = client_from("127.0.0.1");
    let v = versions(&other, &url, &[("x-cutover-version", "1.5.0")], 20).await;
    assert!(v.iter().all(|x| x == "stable"), "{v:?}");
    daemon.stop().await;
}
