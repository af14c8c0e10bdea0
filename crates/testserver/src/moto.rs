//! moto's S3 server (Python), for API coverage and faithful hostile keys.

use crate::process::{free_port, spawn_bound, wait_for_port};
use crate::{tool, Flavor, Inner, S3Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

pub struct Moto {
    port: u16,
    child: Mutex<Option<Child>>,
}

impl Moto {
    pub fn start() -> Moto {
        let moto = Moto { port: free_port(), child: Mutex::new(None) };
        moto.restart();
        moto
    }

    pub fn into_server(self) -> S3Server {
        S3Server {
            flavor: Flavor::Moto,
            endpoint: format!("http://127.0.0.1:{}", self.port),
            region: "us-east-1".into(),
            access_key_id: "motoaccesskey".into(),
            secret_access_key: "motosecretkey".into(),
            inner: Inner::Moto(self),
        }
    }

    pub fn restart(&self) {
        let mut cmd = Command::new(tool("venv/bin/moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        *self.child.lock().unwrap() = Some(spawn_bound(cmd));
        wait_for_port(self.port, "moto_server");
    }

    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// moto does not check signatures, so a bare HTTP PUT creates a bucket;
    /// this keeps aws-sdk-s3 out of this crate.
    pub fn create_bucket(&self, name: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("moto is not reachable");
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "moto refused bucket {name}: {answer}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
