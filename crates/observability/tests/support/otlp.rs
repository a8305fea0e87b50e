//! A tiny OTLP/HTTP receiver on 127.0.0.1 for tests.
//!
//! Accepts `POST /v1/traces` (HTTP/1.1, keep-alive, `Content-Length`
//! bodies), records each request, and answers 200 — or 503 for the first
//! `fail_first` requests, to exercise retries; or 200 with a partial
//! success that rejects some spans. Stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// Decode the body according to its content type.
    pub fn decode(&self) -> ExportTraceServiceRequest {
        match self.content_type.as_str() {
            "application/x-protobuf" => ExportTraceServiceRequest::decode(&self.body[..]).unwrap(),
            "application/json" => serde_json::from_slice(&self.body).unwrap(),
            other => panic!("unexpected content type {other}"),
        }
    }
}

pub struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub fn start(fail_first: usize) -> Self {
        Self::answering(fail_first, None)
    }

    /// A receiver whose 200 answers report `rejected` spans of each request
    /// as refused, with a message (an OTLP partial success).
    pub fn rejecting(rejected: i64) -> Self {
        Self::answering(0, Some(rejected))
    }

    fn answering(fail_first: usize, rejected: Option<i64>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(fail_first));
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, failures) = (requests.clone(), failures.clone());
                    std::thread::spawn(move || serve(conn, &requests, &failures, rejected));
                }
            });
        }
        Receiver {
            addr,
            requests,
            stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Every span received, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.requests()
            .iter()
            .flat_map(|r| r.decode().resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // unblock accept
    }
}

fn serve(
    conn: TcpStream,
    requests: &Mutex<Vec<Request>>,
    failures: &AtomicUsize,
    rejected: Option<i64>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let content_type = header("content-type").unwrap_or_default();
        let fail = failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let response: Vec<u8> = if fail {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()
        } else {
            requests.lock().unwrap().push(Request {
                path,
                content_type: content_type.clone(),
                headers: headers.clone(),
                body,
            });
            let partial = rejected.map(|n| ExportTracePartialSuccess {
                rejected_spans: n,
                error_message: "span names must not be empty".into(),
            });
            let answer = match content_type.as_str() {
                "application/json" => match &partial {
                    // OTLP/JSON writes 64-bit integers as strings.
                    Some(p) => serde_json::json!({"partialSuccess": {
                        "rejectedSpans": p.rejected_spans.to_string(),
                        "errorMessage": p.error_message}})
                    .to_string()
                    .into_bytes(),
                    None => b"{}".to_vec(),
                },
                _ => ExportTraceServiceResponse {
                    partial_success: partial,
                }
                .encode_to_vec(),
            };
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            )
            .into_bytes();
            r.extend(answer);
            r
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}
