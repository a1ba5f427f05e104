//! A loopback HTTP server that answers as Twilio's Messages API does
//! (`POST /2010-04-01/Accounts/<sid>/Messages.json`, Basic auth, a form body with `To`,
//! `From`, `Body`; `201` with a JSON message resource), and keeps what it was sent.
//! A request with other credentials gets Twilio's `401`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The account the server accepts.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef";
/// Its auth token.
pub const AUTH_TOKEN: &str = "twilio-test-auth-token";

/// One accepted message: (path, To, From, Body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texted {
    /// The request path.
    pub path: String,
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Body`.
    pub body: String,
}

/// The running server; dropping it stops it.
pub struct SmsServer {
    port: u16,
    sent: Arc<Mutex<Vec<Texted>>>,
    task: JoinHandle<()>,
}

impl Drop for SmsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmsServer {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> SmsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let keep = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(10), serve(stream, keep)).await;
                });
            }
        });
        SmsServer { port, sent, task }
    }

    /// The base URL to configure as `sms_service_config.BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far.
    pub fn sent(&self) -> Vec<Texted> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits up to 5 s for `n` messages.
    pub async fn wait_for(&self, n: usize) -> Vec<Texted> {
        for _ in 0..100 {
            let s = self.sent();
            if s.len() >= n {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sent()
    }
}

async fn serve(stream: TcpStream, sent: Arc<Mutex<Vec<Texted>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut length, mut auth) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).await? == 0 || h == "\r\n" {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0).min(65_536),
            "authorization" => auth = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    let good_path = path == format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    let (status, reply) = if auth != expected || !good_path {
        (
            "401 Unauthorized",
            r#"{"code":20003,"message":"Authenticate","status":401}"#.to_owned(),
        )
    } else {
        let form: Vec<(String, String)> = url_decode(&body);
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let t = Texted {
            path,
            to: get("To"),
            from: get("From"),
            body: get("Body"),
        };
        let reply =
            serde_json::json!({"sid": "SM0001", "status": "queued", "to": t.to, "from": t.from})
                .to_string();
        if let Ok(mut v) = sent.lock() {
            v.push(t);
        }
        ("201 Created", reply)
    };
    let mut stream = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((unescape(k), unescape(v)))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
