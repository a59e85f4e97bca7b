//! Starting and stopping real `cartd serve` processes on a free port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The HS256 secret test servers are started with.
pub const SECRET: &str = "cli-test-secret-0123456789abcdef-xyz";

/// Keeps the outbox relay out of a server, for tests that read the outbox's pending events.
pub const NO_RELAY: (&str, &str) = ("CARTD_NO_RELAY", "true");

/// `cartd` with a clean `CARTD_` environment.
pub fn cartd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cartd"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CARTD_") {
            command.env_remove(name);
        }
    }
    command.env("CARTD_LOG", "warn");
    command
}

/// How long a one-shot command may run before the test fails (a bad setting that was accepted
/// would otherwise start a server and hang the suite).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cartd` with arguments and returns its output; fails the test if it does not exit.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = cartd();
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("run cartd");
    let pid = child.id();
    // Output is collected on another thread so a full pipe can never stall the child.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match outcome.recv_timeout(COMMAND_TIMEOUT) {
        Ok(output) => output.expect("output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("cartd {args:?} with {env:?} did not exit");
        }
    }
}

/// The store URL of a database file.
pub fn store_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it for a listener that is
/// closed again).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `cartd serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts a server on `db` and waits until `/health` answers.
    pub async fn start(db: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_logging_to(db, env, Stdio::null()).await
    }

    /// Starts a server whose log (stderr) goes to `log`.
    pub async fn start_logging_to(db: &Path, env: &[(&str, &str)], log: Stdio) -> Self {
        let port = free_port();
        let mut command = cartd();
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("CARTD_STORE", store_url(db))
            .stdout(Stdio::null())
            .stderr(log);
        // The test secret, unless the test gives the secret another way.
        if !env
            .iter()
            .any(|(name, _)| name.starts_with("CARTD_JWT_SECRET"))
        {
            command.env("CARTD_JWT_SECRET", SECRET);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("spawn cartd serve");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/health", server.base)).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cartd serve did not become healthy");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the log file `log` holds `needle` (the test fails after 10 s, showing the log).
pub fn wait_for_line(log: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            Instant::now() < deadline,
            "the log never said {needle:?}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A token for user `sub`, signed with the test servers' secret.
pub fn user_token(sub: &str) -> String {
    minted(&["token", "--sub", sub])
}

/// An admin token for the test servers.
pub fn admin_token() -> String {
    minted(&["token", "--sub", "ops", "--scope", "cart:admin"])
}

fn minted(args: &[&str]) -> String {
    let output = run(args, &[("CARTD_JWT_SECRET", SECRET)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A temporary database path.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cartd.db");
    (dir, path)
}

/// A fresh guest id (a ULID after `guest_`).
pub fn guest(n: u128) -> String {
    cart_core::GuestId::from_ulid_bits(uuid::Uuid::now_v7().as_u128() ^ n)
        .as_str()
        .to_owned()
}

/// `GET url` and its JSON body (the test fails on any error).
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON body")
}
