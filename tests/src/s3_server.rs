//! A real S3-compatible server for the `ObjectStore` tests: moto's server mode
//! (`python3 -m moto.server`, from PyPI), one process per test on a loopback port of its own.
//! `.ci/run` installs it (`python3 -m pip install 'moto[server]'`); without it the tests fail,
//! saying how to install it.
//!
//! moto keeps objects in memory. Started with [`S3Server::start_recorded`], it also appends
//! every request to a file (moto's recorder), and [`S3Server::restart`] replays that file:
//! the bucket then outlives a kill, as a disk-backed server's would.

use duraflow::{DuraflowError, ObjectStore};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How to get the server the tests need.
const INSTALL: &str = "the ObjectStore tests need moto's S3 server: install it with \
                       `python3 -m pip install 'moto[server]'`";

/// The bucket every test server holds.
pub const BUCKET: &str = "duraflow-tests";
/// The credentials the tests sign with (moto accepts any).
const ACCESS_KEY: &str = "duraflow-test-key";
/// The secret key, which no message may show.
pub const SECRET_KEY: &str = "duraflow-test-secret";

/// One moto server on loopback, with the bucket [`BUCKET`].
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    /// Where moto's recorder writes, for servers that outlive a kill.
    recording: Option<TempDir>,
}

impl S3Server {
    /// Starts a server with an empty bucket, kept in memory only.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts a server with an empty bucket whose requests are recorded, so that
    /// [`S3Server::restart`] brings the bucket back after [`S3Server::kill`].
    pub fn start_recorded() -> Self {
        Self::launch(Some(tempfile::tempdir().expect("a temp dir")))
    }

    fn launch(recording: Option<TempDir>) -> Self {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = S3Server {
            child: None,
            port,
            recording,
        };
        server.spawn();
        let (status, body) = server.request("PUT", &format!("/{BUCKET}"), b"");
        assert_eq!(status, 200, "creating the bucket: {body}");
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An `ObjectStore` on the bucket, under `prefix`.
    pub fn open(&self, prefix: &str) -> Result<ObjectStore, DuraflowError> {
        open_bucket(&self.endpoint(), prefix)
    }

    /// Stores `body` as the object `name` (`prefix/name`), behind every store's back.
    pub fn put_object(&self, name: &str, body: &[u8]) {
        let (status, answer) = self.request("PUT", &format!("/{BUCKET}/{name}"), body);
        assert_eq!(status, 200, "storing {name}: {answer}");
    }

    /// The object `name` (`prefix/name`), read behind every store's back.
    pub fn get_object(&self, name: &str) -> Vec<u8> {
        let (status, body) = self.request_bytes("GET", &format!("/{BUCKET}/{name}"), b"");
        assert_eq!(status, 200, "reading {name}");
        body
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts a server killed by [`S3Server::kill`] again on the same port, and replays its
    /// recorded requests so that it holds what it held before the kill.
    pub fn restart(&mut self) {
        assert!(
            self.recording.is_some(),
            "only a server from start_recorded survives a restart"
        );
        self.kill();
        self.spawn();
        let (status, body) = self.request("POST", "/moto-api/recorder/replay-recording", b"");
        assert_eq!(status, 200, "replaying the recorded requests: {body}");
    }

    /// Starts moto's server and waits until it accepts connections.
    fn spawn(&mut self) {
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = &self.recording {
            command
                .env("MOTO_ENABLE_RECORDING", "true")
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("requests.jsonl"));
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("python3 did not start ({e}): {INSTALL}"));
        // Kept at once, so that a panic below kills it as the server drops.
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto's server exited ({status}): {INSTALL}");
            }
            assert!(
                Instant::now() < deadline,
                "moto's server did not listen on port {} within 30 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One plain HTTP/1.1 request to the server, its status and body as text. moto checks
    /// no signature, but serves private objects only to requests that name credentials.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let (status, body) = self.request_bytes(method, path, body);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn request_bytes(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connects");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/us-east-1/s3/\
             aws4_request, SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("sends");
        stream.write_all(body).expect("sends");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("an answer");
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let status_line = String::from_utf8_lossy(&answer[..end]).into_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP status line: {status_line}"));
        (status, answer[end + 4..].to_vec())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An `ObjectStore` on the test bucket of the server at `endpoint`, under `prefix`.
pub fn open_bucket(endpoint: &str, prefix: &str) -> Result<ObjectStore, DuraflowError> {
    ObjectStore::s3(
        &format!("s3://{BUCKET}/{prefix}"),
        [
            ("endpoint", endpoint),
            ("allow_http", "true"),
            ("region", "us-east-1"),
            ("access_key_id", ACCESS_KEY),
            ("secret_access_key", SECRET_KEY),
        ],
    )
}
