//! Train files: what parses, and errors that name file, line and key.

use super::*;

fn known() -> Vec<String> {
    ["shop", "api", "web"].map(String::from).to_vec()
}

fn err(text: &str) -> String {
    parse_train(text, "train.toml", Some(&known()))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_brief_example_parses() {
    let text = r#"max_parallel = 2
abort_on = "first_breach"
rollback = "all"
[[entries]]
service = "shop"
image = "shop-v2"
[[entries]]
service = "api"
image = "api-v2"
after = ["shop"]
"#;
    let t = parse_train(text, "train.toml", Some(&known())).unwrap();
    assert_eq!(t.max_parallel, 2);
    assert_eq!(t.abort_on, AbortOn::FirstBreach);
    assert_eq!(t.rollback, RollbackScope::All);
    assert_eq!(t.entries[1].after, vec!["shop".to_string()]);
    let t = parse_train(
        "abort_on = 2\n[[entries]]\nservice = \"web\"\nimage = \"w\"\n",
        "t",
        None,
    )
    .unwrap();
    assert_eq!((t.abort_on, t.max_parallel), (AbortOn::Failures(2), 1));
    assert_eq!(t.rollback, RollbackScope::InFlight);
}

#[test]
fn errors_name_the_file_line_and_key() {
    let e = err("max_parallel = 0\n[[entries]]\nservice = \"shop\"\nimage = \"x\"\n");
    assert!(
        e.starts_with("train.toml:1:16: max_parallel: expected a number"),
        "{e}"
    );
    let e = err("abort_on = 0\n[[entries]]\nservice = \"shop\"\nimage = \"x\"\n");
    assert!(
        e.starts_with("train.toml:1:") && e.contains("abort_on"),
        "{e}"
    );
    assert!(e.contains("\"first_breach\" or a number"), "{e}");
    let e = err("rollback = \"some\"\n[[entries]]\nservice = \"shop\"\nimage = \"x\"\n");
    assert!(
        e.starts_with("train.toml:1:") && e.contains("rollback"),
        "{e}"
    );
    let e = err(
        "[[entries]]\nservice = \"shop\"\nimage = \"x\"\n[[entries]]\nservice = \"nope\"\nimage = \"y\"\n",
    );
    assert!(
        e.starts_with("train.toml:5:11: entries[1].service: no service \"nope\" in this daemon; it serves shop, api, web"),
        "{e}"
    );
    let e = err("[[entries]]\nservice = \"shop\"\nimage = \"x\"\nafter = [\"api\"]\n");
    assert!(
        e.starts_with("train.toml:4:") && e.contains("entries[0].after"),
        "{e}"
    );
    let e = err("[[entries]]\nservice = \"shop\"\nimage = \"x\"\ncolour = 1\n");
    assert!(
        e.starts_with("train.toml:4:1: entries[0].colour: unknown field"),
        "{e}"
    );
    let e = err("[[entries]]\nservice = \"shop\"\n");
    assert!(
        e.contains("entries[0].image") || e.contains("`image`"),
        "{e}"
    );
    let e = err("max_parallel = 2\n");
    assert!(
        e.contains("entries: expected at least one [[entries]]"),
        "{e}"
    );
    let e = err(
        "[[entries]]\nservice = \"shop\"\nimage = \"a\"\n[[entries]]\nservice = \"shop\"\nimage = \"b\"\n",
    );
    assert!(
        e.contains("train.toml:5:") && e.contains("already entries[0]"),
        "{e}"
    );
}

#[test]
fn a_circle_of_afters_is_refused() {
    let e = err(r#"[[entries]]
service = "shop"
image = "a"
after = ["web"]
[[entries]]
service = "api"
image = "b"
after = ["shop"]
[[entries]]
service = "web"
image = "c"
after = ["api"]
"#);
    assert!(e.starts_with("train.toml:4:"), "{e}");
    assert!(e.contains("in a circle: shop → web → api → shop"), "{e}");
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../README.md");
    let at = readme
        .find("### Release trains")
        .expect("README has the section");
    let block = readme[at..]
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let known = ["shop", "api"].map(String::from);
    let t = parse_train(block, "README.md", Some(&known)).unwrap();
    assert_eq!(t.entries.len(), 2);
}
