//! Tests of `validate.rs`, kept beside it so the file itself reads as code.

use super::*;

#[test]
fn image_references() {
    for ok in [
        "shop",
        "shop:1.4.2",
        "library/shop:latest",
        "ghcr.io/acme/shop:v2",
        "localhost:5000/shop",
        "registry.example.com:5000/team/shop_svc__x.y-z:1.0",
        "shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "cutover-demo:v1",
    ] {
        assert!(
            image_reference(ok).is_ok(),
            "{ok}: {:?}",
            image_reference(ok)
        );
    }
    for bad in [
        "",
        "Shop:1",
        "shop:",
        "shop:-x",
        "shop::1",
        "/shop",
        "shop/",
        "a//b",
        "shop@sha256:xyz",
        "shop:1 2",
        "ex ample/shop",
        "shop_:1",
        "-shop",
        "reg:0/shop",
        "shop@sha256:0123",
    ] {
        assert!(image_reference(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn host_ports() {
    for ok in [
        "127.0.0.1:9001",
        "[::1]:80",
        "shop.internal:8080",
        "localhost:1",
    ] {
        assert!(host_port(ok).is_ok(), "{ok}");
    }
    for bad in [
        "127.0.0.1",
        "host:0",
        "host:65536",
        ":80",
        "::1:80",
        "bad_host:80",
        "a..b:1",
        "h:x",
    ] {
        assert!(host_port(bad).is_err(), "{bad} accepted");
    }
}
