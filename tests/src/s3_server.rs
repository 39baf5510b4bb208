//! A real S3-compatible server for the `ObjectStore` tests: `s3s-fs`, one process per test
//! on a loopback port of its own, keeping its objects as files in a temp directory (so they
//! outlive a kill and a restart). `.ci/run` installs it (`cargo install s3s-fs`); without it
//! the tests fail, saying how to install it.

use duraflow::{DuraflowError, ObjectStore};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The bucket every test server holds.
pub const BUCKET: &str = "duraflow-tests";
const ACCESS_KEY: &str = "duraflow-test-key";
const SECRET_KEY: &str = "duraflow-test-secret";

/// The `s3s-fs` binary: on `PATH` or in cargo's bin directory.
fn binary() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join("s3s-fs"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the ObjectStore tests need an S3 server, and `s3s-fs` is neither on PATH nor \
                 in ~/.cargo/bin: run `cargo install s3s-fs@0.14.1 --features binary --locked`"
            )
        })
}

/// One `s3s-fs` server on loopback.
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    root: TempDir,
}

impl S3Server {
    /// Starts a server with an empty bucket [`BUCKET`].
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket directory");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = S3Server {
            child: None,
            port,
            root,
        };
        server.restart();
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

    /// The file in which the server keeps the object `name` under `prefix`.
    pub fn object_file(&self, prefix: &str, name: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(prefix).join(name)
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts the server again (after [`S3Server::kill`]) on the same port and files, and
    /// waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
