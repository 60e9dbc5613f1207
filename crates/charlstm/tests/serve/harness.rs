//! The harness of the serve tests: a `charlstm serve` child on a free port, raw HTTP/1.1
//! requests over loopback, and the server-sent events of a streamed answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::charlstm;

/// A running `charlstm serve` on a free loopback port, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
}

impl Server {
    /// Serves `run_dir` with `extra` arguments and waits until it listens.
    pub fn start(run_dir: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = charlstm()
            .args(["serve", "--port", "0", "--checkpoint"])
            .arg(run_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(rest) = line.split("on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep reading its log, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address }
    }

    /// One request; the status and the whole body (de-chunked).
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut stream = self.connect();
        send(&mut stream, method, path, body);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        parse_response(&raw)
    }

    /// Sends a completion `request` and reads the first bytes of the answer, leaving the rest
    /// on the returned connection.
    pub fn open_stream(&self, request: &Value) -> (TcpStream, Vec<u8>) {
        let mut stream = self.connect();
        send(
            &mut stream,
            "POST",
            "/v1/completions",
            request.to_string().as_bytes(),
        );
        let mut first = [0u8; 512];
        let read = stream.read(&mut first).unwrap();
        (stream, first[..read].to_vec())
    }

    /// `POST path` with `body` as JSON: the status and the body as JSON.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.request("POST", path, body.to_string().as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, b"")
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
    }

    /// Waits until no generation runs; fails with `why` after 5 seconds.
    pub fn assert_idle_soon(&self, why: &str) {
        let start = Instant::now();
        while self.running() > 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "{why}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The generations running, from `GET /health`.
    pub fn running(&self) -> u64 {
        let (status, body) = self.get("/health");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["running_generations"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn send(stream: &mut TcpStream, method: &str, path: &str, body: &[u8]) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// The status and body of a whole HTTP/1.1 response, chunked or not.
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if !chunked {
        return (status, body.to_string());
    }
    let mut rest = body;
    let mut whole = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        whole.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    (status, whole)
}

/// The `data:` payloads of a server-sent-events body, in order.
pub fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

/// The streamed text of choice 0, and whether the stream ended with `[DONE]`.
pub fn streamed_text(body: &str) -> (String, bool, Vec<Value>) {
    let data = events(body);
    let done = data.last().is_some_and(|d| d == "[DONE]");
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text = chunks
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap().to_string())
        .collect();
    (text, done, chunks)
}
