//! A private tmux server for terminal end-to-end tests, killed on drop
//! (also when the test fails).

#![allow(dead_code)]

use std::process::Command;

pub struct Tmux {
    pub socket: String,
    pub session: String,
}

impl Tmux {
    /// Whether tmux is installed (tests skip with a reason when it is not).
    pub fn available() -> bool {
        Command::new("tmux").arg("-V").output().is_ok()
    }

    pub fn new(socket: &str, session: &str) -> Tmux {
        Tmux {
            socket: format!("{socket}-{}", std::process::id()),
            session: session.to_string(),
        }
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start `cmd` in a detached session of `width`×`height`.
    pub fn start(&self, width: u16, height: u16, cmd: &str) {
        let (w, h) = (width.to_string(), height.to_string());
        self.run(&[
            "new-session",
            "-d",
            "-s",
            &self.session,
            "-x",
            &w,
            "-y",
            &h,
            cmd,
        ]);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// The screen of another session on this server.
    pub fn screen_of(&self, session: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", session])
    }

    /// Keys to another session on this server.
    pub fn keys_to(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        self.run(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
