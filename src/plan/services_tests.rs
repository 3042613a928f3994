use super::*;

const FLEET: &str = r#"[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"

[[services]]
service = "shop"
hosts = ["shop.example.com", "*.shop.example.com"]
runtime = "static"
[services.stable]
upstreams = ["127.0.0.1:9001"]
[[services.steps]]
weight = 10

[[services]]   # the API, under a prefix
service = "api"
hosts = [
  "example.com",
]
path_prefix = "/api/"
runtime = "static"
[services.stable]
upstreams = ["127.0.0.1:9002"]
[services.guard]
max_failed_requests = 5
"#;

fn fleet(text: &str) -> Result<Fleet, PlanError> {
    parse_fleet(text, "fleet.toml", LoadOptions::default())
}

fn error(text: &str) -> String {
    fleet(text).unwrap_err().to_string()
}

#[test]
fn each_entry_is_a_whole_plan_under_the_shared_listen() {
    assert!(is_fleet(FLEET));
    assert!(!is_fleet("service = \"shop\"\n[stable]\nimage = \"a:1\"\n"));
    let f = fleet(FLEET).unwrap();
    let names: Vec<&str> = f.services.iter().map(|s| s.plan.service.as_str()).collect();
    assert_eq!(names, ["shop", "api"]);
    let shop = &f.services[0];
    assert_eq!(
        shop.hosts,
        [
            HostPattern::Exact("shop.example.com".into()),
            HostPattern::Wildcard(".shop.example.com".into())
        ]
    );
    assert_eq!(shop.plan.steps.len(), 1, "[[services.steps]] is its steps");
    assert_eq!(shop.path_prefix, None);
    let api = &f.services[1];
    assert_eq!(api.path_prefix.as_deref(), Some("/api"));
    assert_eq!(api.plan.guard.max_failed_requests, Some(5));
    assert!(
        api.plan.steps.is_empty(),
        "another entry's steps are not its"
    );
    assert_eq!(
        api.plan.listen.public, shop.plan.listen.public,
        "one [listen] for every service"
    );
}

#[test]
fn errors_name_the_entry_and_the_line_of_the_file() {
    let bad = FLEET.replace("max_failed_requests = 5", "max_failed_requests = -5");
    let e = error(&bad);
    assert!(e.starts_with("fleet.toml:24:"), "{e}");
    assert!(e.contains("services[1].guard.max_failed_requests"), "{e}");
    assert!(
        e.contains("max_failed_requests = -5"),
        "shows the file's line: {e}"
    );

    let e = error(&FLEET.replace("upstreams = [\"127.0.0.1:9001\"]\n", ""));
    assert!(e.contains("services[0].stable"), "{e}");
    assert!(
        e.contains("[services.stable]"),
        "the header as written: {e}"
    );
}

#[test]
fn hosts_are_required_valid_and_never_shared() {
    let e = error(&FLEET.replace(
        "hosts = [\"shop.example.com\", \"*.shop.example.com\"]\n",
        "",
    ));
    assert!(
        e.contains("services[0].hosts") && e.contains("needs hosts"),
        "{e}"
    );
    let e = error(&FLEET.replace("\"*.shop.example.com\"", "\"http://shop:80\""));
    assert!(e.starts_with("fleet.toml:7:30:"), "{e}");
    assert!(e.contains("expected a host name"), "{e}");
    let e = error(
        &FLEET
            .replace("path_prefix = \"/api/\"\n", "")
            .replace("  \"example.com\",", "  \"shop.example.com\","),
    );
    assert!(e.contains("already belongs to service \"shop\""), "{e}");
    let e = error(&FLEET.replace("service = \"api\"", "service = \"shop\""));
    assert!(e.contains("names a service already in this plan"), "{e}");
}

#[test]
fn the_top_holds_listen_and_services_only() {
    let e = error(&format!("[guard]\nmax_errors = 3\n{FLEET}"));
    assert!(
        e.starts_with("fleet.toml:1:") && e.contains("put guard inside each service"),
        "{e}"
    );
    let e = error(&FLEET.replace(
        "[services.guard]",
        "[services.listen]\npublic = \"127.0.0.1:1\"\n[services.guard]",
    ));
    assert!(e.contains("[listen] is the daemon's"), "{e}");
}

#[test]
fn host_patterns_match_names_not_lookalikes() {
    let exact = HostPattern::parse("Shop.Example.com").unwrap();
    assert!(exact.matches("shop.example.com"));
    assert!(!exact.matches("evilshop.example.com"));
    let wild = HostPattern::parse("*.example.com").unwrap();
    assert!(wild.matches("a.example.com") && wild.matches("a.b.example.com"));
    assert!(!wild.matches("example.com") && !wild.matches("badexample.com"));
    assert!(exact.specificity() > wild.specificity());
    for bad in [
        "",
        "*.",
        "a..b",
        "-a.com",
        "a.com:80",
        "http://a.com",
        "*.*.a.com",
    ] {
        assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
    }
}
