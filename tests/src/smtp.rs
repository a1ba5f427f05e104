//! A loopback SMTP server for tests: it accepts (or refuses) every message and keeps it.
//!
//! Minimal protocol: `220` greeting, `EHLO`/`HELO` (no extensions, no STARTTLS), `MAIL FROM`,
//! `RCPT TO`, `DATA` … `.`, `RSET`, `NOOP`, `QUIT`. Lines and messages are bounded, and a
//! connection idle for more than 10 s is closed. Dropping the [`SmtpSink`] stops the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Longest command line accepted (RFC 5321 allows 512; leave room for parameters).
const MAX_LINE: usize = 4096;
/// Largest message accepted.
const MAX_DATA: usize = 4 * 1024 * 1024;
/// Most messages kept; later ones are refused with `452`.
const MAX_MESSAGES: usize = 1000;
/// A connection silent for this long is closed.
const IDLE: Duration = Duration::from_secs(10);

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address, without angle brackets.
    pub mail_from: String,
    /// The `RCPT TO` addresses, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The raw DATA (headers and body, CRLF line ends), dot-unstuffed.
    pub data: String,
}

/// One leaf MIME part of a [`ReceivedMail`], its body decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPart {
    /// The media type, lowercase, without parameters (`text/plain`).
    pub content_type: String,
    /// The body after undoing `Content-Transfer-Encoding`.
    pub body: String,
}

impl ReceivedMail {
    /// A top-level header by case-insensitive name, unfolded, RFC 2047 words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_head_body(&self.data);
        header_in(head, name).map(|v| decode_words(&v))
    }

    /// The leaf parts of the message (a single-part message is one part), decoded, with
    /// trailing line breaks removed (they belong to the MIME and SMTP framing).
    pub fn parts(&self) -> Vec<MailPart> {
        let mut out = Vec::new();
        collect_parts(&self.data, &mut out, 0);
        out
    }

    /// The decoded text of every part, joined: enough for a test to find a link.
    pub fn body_text(&self) -> String {
        self.parts()
            .into_iter()
            .map(|p| p.body)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The decoded body of the first part of `content_type` (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        self.parts()
            .into_iter()
            .find(|p| p.content_type.eq_ignore_ascii_case(content_type))
            .map(|p| p.body)
    }
}

/// A running loopback SMTP server.
pub struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // The accept task owns the connection tasks (a JoinSet): aborting it stops them all.
        self.task.abort();
    }
}

impl SmtpSink {
    /// Starts a server on 127.0.0.1 (a free port) that accepts every message.
    pub async fn start() -> SmtpSink {
        Self::spawn(0).await
    }

    /// Starts a server that answers `554 5.7.1 rejected` to `MAIL FROM`.
    pub async fn start_refusing() -> SmtpSink {
        Self::spawn(usize::MAX).await
    }

    /// Starts a server that refuses the first `n` messages (as [`Self::start_refusing`]),
    /// then accepts.
    pub async fn start_refusing_first(n: usize) -> SmtpSink {
        Self::spawn(n).await
    }

    async fn spawn(refusals: usize) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let shared = Shared {
            mails: mails.clone(),
            notify: notify.clone(),
            refusals: Arc::new(AtomicUsize::new(refusals)),
        };
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        match accepted {
                            Ok((stream, _)) => {
                                let shared = shared.clone();
                                conns.spawn(async move {
                                    // A broken or idle connection just ends.
                                    let _ = session(stream, shared).await;
                                });
                            }
                            // Out of descriptors or similar: back off instead of spinning.
                            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        SmtpSink {
            port,
            mails,
            notify,
            task,
        }
    }

    /// The port the server listens on (host 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a message stored in between still wakes us.
            notified.as_mut().enable();
            let now = self.received();
            if now.len() >= n {
                return now;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.received();
            }
        }
    }
}

#[derive(Clone)]
struct Shared {
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    notify: Arc<Notify>,
    /// Messages still to refuse (`usize::MAX`: all).
    refusals: Arc<AtomicUsize>,
}

impl Shared {
    /// True when this message is to be refused (counting it).
    fn refuse(&self) -> bool {
        let left = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                usize::MAX => Some(usize::MAX),
                n => Some(n - 1),
            });
        left.is_ok()
    }
}

/// Reads one line of at most `max` bytes, with the idle timeout.
/// `Ok(None)`: the peer closed, went idle or sent an over-long line.
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut limited = (&mut *r).take(max as u64);
    let read = limited.read_until(b'\n', &mut buf);
    match tokio::time::timeout(IDLE, read).await {
        Err(_) | Ok(Ok(0)) => Ok(None),
        Ok(Ok(_)) if !buf.ends_with(b"\n") => Ok(None),
        Ok(Ok(_)) => Ok(Some(buf)),
        Ok(Err(e)) => Err(e),
    }
}

/// The address inside `<...>` after the `:` of `MAIL FROM:` / `RCPT TO:`.
fn path_arg(args: &str) -> Option<String> {
    let rest = args.split_once(':')?.1.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

async fn session(stream: TcpStream, shared: Shared) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"220 127.0.0.1 SmtpSink ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut rd, MAX_LINE).await? {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let verb = line.get(..4).unwrap_or(line).to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => {
                from = None;
                rcpts.clear();
                b"250 127.0.0.1\r\n"
            }
            "MAIL" if shared.refuse() => b"554 5.7.1 rejected\r\n",
            "MAIL" => match path_arg(line) {
                Some(a) if from.is_none() => {
                    from = Some(a);
                    b"250 2.1.0 OK\r\n"
                }
                Some(_) => b"503 5.5.1 nested MAIL command\r\n",
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" if from.is_none() => b"503 5.5.1 need MAIL first\r\n",
            "RCPT" if rcpts.len() >= 100 => b"452 4.5.3 too many recipients\r\n",
            "RCPT" => match path_arg(line) {
                Some(a) => {
                    rcpts.push(a);
                    b"250 2.1.5 OK\r\n"
                }
                None => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if rcpts.is_empty() => b"503 5.5.1 need RCPT first\r\n",
            "DATA" => {
                wr.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut rd).await? else {
                    wr.write_all(b"552 5.3.4 message too big or connection lost\r\n")
                        .await?;
                    return Ok(());
                };
                let mail = ReceivedMail {
                    mail_from: from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpts),
                    data,
                };
                if store(&shared, mail) {
                    b"250 2.0.0 queued\r\n"
                } else {
                    b"452 4.3.1 sink full\r\n"
                }
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                wr.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not recognized\r\n",
        };
        wr.write_all(reply).await?;
    }
    Ok(())
}

/// Reads DATA up to the lone `.` line, dot-unstuffed; `None` when too big or cut off.
async fn read_data<R: AsyncRead + Unpin>(rd: &mut BufReader<R>) -> std::io::Result<Option<String>> {
    let mut data: Vec<u8> = Vec::new();
    loop {
        let Some(line) = read_line(rd, MAX_LINE.max(1000)).await? else {
            return Ok(None);
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(String::from_utf8_lossy(&data).into_owned()));
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > MAX_DATA {
            return Ok(None);
        }
        data.extend_from_slice(line);
    }
}

fn store(shared: &Shared, mail: ReceivedMail) -> bool {
    let mut mails = shared.mails.lock().unwrap();
    if mails.len() >= MAX_MESSAGES {
        return false;
    }
    mails.push(mail);
    drop(mails);
    shared.notify.notify_waiters();
    true
}

// ---- just enough MIME to read what lettre sends ----

/// Splits at the first empty line.
fn split_head_body(s: &str) -> (&str, &str) {
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(i) = s.find(sep) {
            return (&s[..i], &s[i + sep.len()..]);
        }
    }
    (s, "")
}

/// A header of a header block, unfolded.
fn header_in(head: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.trim().eq_ignore_ascii_case(name) {
                found = Some(v.trim().to_owned());
            }
        }
    }
    found
}

/// A parameter (`boundary`, `charset`) of a header value such as a Content-Type.
fn header_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn collect_parts(entity: &str, out: &mut Vec<MailPart>, depth: usize) {
    let (head, body) = split_head_body(entity);
    let ctype = header_in(head, "content-type").unwrap_or_else(|| "text/plain".into());
    let media = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.starts_with("multipart/") && depth < 8 {
        if let Some(boundary) = header_param(&ctype, "boundary") {
            let delim = format!("--{boundary}");
            for chunk in body.split(delim.as_str()).skip(1) {
                if chunk.starts_with("--") {
                    break; // the closing delimiter
                }
                let chunk = chunk
                    .strip_prefix("\r\n")
                    .or_else(|| chunk.strip_prefix('\n'))
                    .unwrap_or(chunk);
                collect_parts(chunk, out, depth + 1);
            }
            return;
        }
    }
    let cte = header_in(head, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = match cte.as_str() {
        "quoted-printable" => decode_qp(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| body.to_owned())
        }
        _ => body.to_owned(),
    };
    out.push(MailPart {
        content_type: media,
        body: body.replace("\r\n", "\n").trim_end_matches('\n').to_owned(),
    });
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) in a header value.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let Some(word) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            last_was_word = false;
            continue;
        };
        let gap = &rest[..start];
        // Whitespace between two encoded words is not part of the text.
        if !(last_was_word && gap.trim().is_empty()) {
            out.push_str(gap);
        }
        out.push_str(&word.1);
        rest = &rest[start + word.0..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`: (its length, its text).
fn encoded_word(s: &str) -> Option<(usize, String)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (enc, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    let bytes = match enc {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" | "Q" => decode_qp(&text.replace('_', " ")).into_bytes(),
        _ => return None,
    };
    let len = s.len() - rest.len() + end + 2;
    Some((len, String::from_utf8_lossy(&bytes).into_owned()))
}

fn decode_qp(s: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'=' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        // `=` then CRLF / LF: a soft line break.
        if b[i + 1..].starts_with(b"\r\n") {
            i += 3;
        } else if b[i + 1..].starts_with(b"\n") {
            i += 2;
        } else if let Some(byte) = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_qp_and_base64_parts() {
        let raw = "Subject: Hi\r\n  there\r\nContent-Type: multipart/alternative;\r\n boundary=\"B\"\r\n\r\n\
                   --B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   https://x.test/reset/a=3Db=\r\ncd caf=C3=A9\r\n\
                   --B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--B--\r\n";
        let m = ReceivedMail {
            mail_from: "a@x".into(),
            rcpt_to: vec![],
            data: raw.into(),
        };
        assert_eq!(m.header("subject").as_deref(), Some("Hi there"));
        let enc = ReceivedMail {
            data: "Subject: =?utf-8?b?UsOp?= =?utf-8?q?a=C3=A9_b?= end\r\n\r\n".into(),
            ..m.clone()
        };
        assert_eq!(enc.header("Subject").as_deref(), Some("Réaé b end"));
        assert_eq!(
            m.part("text/plain").as_deref(),
            Some("https://x.test/reset/a=bcd café")
        );
        assert_eq!(m.part("text/html").as_deref(), Some("<b>hi</b>"));
        assert!(m.body_text().contains("a=bcd"));
    }

    #[test]
    fn path_arg_reads_the_address() {
        assert_eq!(path_arg("MAIL FROM:<a@x> SIZE=10").as_deref(), Some("a@x"));
        assert_eq!(path_arg("RCPT TO: <b@y>").as_deref(), Some("b@y"));
        assert_eq!(path_arg("RCPT TO b@y"), None);
    }
}
