//! `cutover demo-app` as a child process on a port of its own: an upstream
//! that lives apart from the daemons a test starts, stops and kills.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A demo app answering as `version`; killed when dropped.
pub struct App(Child, pub SocketAddr);

impl App {
    pub fn start(version: &str) -> App {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args([
                "demo-app",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(["--version", version])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        App(child, format!("127.0.0.1:{port}").parse().unwrap())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
