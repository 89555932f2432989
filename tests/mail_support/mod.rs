//! Helpers for `contract_mailer.rs`: the aiosmtpd sink started through `scripts/smtp-server.sh`,
//! a free port, and a small RFC 5322 / MIME reader to check what arrived.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Options for the sink, passed to `smtp_sink.py`.
#[derive(Debug, Default, Clone)]
pub struct SinkOptions {
    pub auth: Option<(String, String)>,
    pub reject_rcpt: Vec<String>,
    pub tempfail_rcpt: Vec<String>,
}

/// A running aiosmtpd server storing messages in a temporary directory; killed on drop.
pub struct SmtpSink {
    pub port: u16,
    pub pid: u32,
    root: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the sink through the project's script. Panics (the test fails, never skips) when
    /// Python, the venv or the server cannot be set up.
    pub fn start(options: SinkOptions) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp-server.sh");
        let mut last_error = String::new();
        for _ in 0..3 {
            let root = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let mut cmd = Command::new("bash");
            cmd.arg(&script)
                .arg("--port")
                .arg(port.to_string())
                .arg("--dir")
                .arg(root.path().join("mail"))
                .env("SMTP_SINK_LOG", root.path().join("sink.log"));
            if let Some((user, password)) = &options.auth {
                cmd.args(["--auth-user", user, "--auth-password", password]);
            }
            for a in &options.reject_rcpt {
                cmd.args(["--reject-rcpt", a]);
            }
            for a in &options.tempfail_rcpt {
                cmd.args(["--tempfail-rcpt", a]);
            }
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                let pid = stdout.trim().parse().unwrap_or_else(|_| {
                    panic!("smtp-server.sh printed no PID: {stdout:?} (stderr: {stderr})")
                });
                return Self { port, pid, root };
            }
            last_error = format!("{}\nstdout: {stdout}\nstderr: {stderr}", out.status);
            // Another test may have taken the port between our probe and the bind: try another.
            if !stderr.contains("Address already in use") {
                break;
            }
        }
        panic!("the SMTP sink could not be started: {last_error}");
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().join("mail")
    }

    /// The server's output: `ehlo ...`, `auth PLAIN accepted`, `stored ...` lines.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("sink.log")).unwrap_or_default()
    }

    pub fn ehlo_count(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with("ehlo "))
            .count()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// The `.eml` files in `dir`, sorted by name; temporary files (dot files) excluded.
pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// Everything in `dir`, dot files included (to catch left-over temporary files).
pub fn all_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A message read back: unfolded, decoded headers and the decoded leaf parts.
#[derive(Debug)]
pub struct Parsed {
    pub raw: String,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
}

#[derive(Debug)]
pub struct Part {
    pub content_type: String,
    pub transfer_encoding: String,
    /// Decoded text with line ends normalised to `\n`.
    pub text: String,
}

impl Parsed {
    pub fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self::parse(&bytes)
    }

    pub fn parse(bytes: &[u8]) -> Self {
        let raw = String::from_utf8(bytes.to_vec()).expect("message is UTF-8 (in fact ASCII)");
        let (head, body) = split_head(&raw);
        let headers = parse_headers(head);
        let content_type = find(&headers, "Content-Type").unwrap_or_default();
        let cte = find(&headers, "Content-Transfer-Encoding").unwrap_or_default();
        let parts = leaf_parts(&content_type, &cte, body);
        Self {
            raw,
            headers,
            parts,
        }
    }

    /// The decoded value of the only header called `name`; panics if it appears twice.
    pub fn header(&self, name: &str) -> Option<String> {
        let all: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .collect();
        assert!(all.len() <= 1, "header {name} appears {} times", all.len());
        all.first().map(|(_, v)| decode_words(v))
    }

    pub fn part(&self, mime: &str) -> &Part {
        let found: Vec<_> = self
            .parts
            .iter()
            .filter(|p| p.content_type.to_ascii_lowercase().starts_with(mime))
            .collect();
        assert_eq!(found.len(), 1, "parts of type {mime} in {:?}", self.parts);
        found[0]
    }
}

fn find(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn split_head(s: &str) -> (&str, &str) {
    match s.find("\r\n\r\n") {
        Some(i) => (&s[..i], &s[i + 4..]),
        None => (s, ""),
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = out.last_mut().expect("continuation line before any header");
            last.1.push_str(line);
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_owned(), value.trim_start().to_owned()));
        } else {
            panic!("not a header line: {line:?}");
        }
    }
    out
}

fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn leaf_parts(content_type: &str, cte: &str, body: &str) -> Vec<Part> {
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = param(content_type, "boundary").expect("multipart without boundary");
        let delimiter = format!("--{boundary}");
        let close = format!("\r\n--{boundary}--");
        let end = body
            .find(&close)
            .unwrap_or_else(|| panic!("no closing boundary {close:?} in body"));
        let inner = &body[..end];
        let mut parts = Vec::new();
        for chunk in inner.split(&format!("\r\n{delimiter}\r\n")) {
            let chunk = chunk
                .strip_prefix(&format!("{delimiter}\r\n"))
                .unwrap_or(chunk);
            if chunk.trim().is_empty() || !chunk.contains(':') {
                continue; // preamble
            }
            let (head, part_body) = split_head(chunk);
            let headers = parse_headers(head);
            parts.extend(leaf_parts(
                &find(&headers, "Content-Type").unwrap_or_else(|| "text/plain".into()),
                &find(&headers, "Content-Transfer-Encoding").unwrap_or_default(),
                part_body,
            ));
        }
        parts
    } else {
        let bytes = match cte.trim().to_ascii_lowercase().as_str() {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .expect("valid base64 body"),
            "quoted-printable" => decode_qp(body),
            _ => body.as_bytes().to_vec(),
        };
        vec![Part {
            content_type: content_type.to_owned(),
            transfer_encoding: cte.to_owned(),
            text: String::from_utf8(bytes)
                .expect("UTF-8 part")
                .replace("\r\n", "\n"),
        }]
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn decode_qp(body: &str) -> Vec<u8> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b[i + 1..].starts_with(b"\r\n") {
                i += 3; // soft line break
                continue;
            }
            let (h, l) = (hex(b[i + 1]).unwrap(), hex(b[i + 2]).unwrap());
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); whitespace between two
/// adjacent encoded words is dropped, as the RFC says.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    loop {
        let Some(start) = rest.find("=?") else {
            out.push_str(rest);
            break;
        };
        let (before, after) = rest.split_at(start);
        let word = after[2..].splitn(3, '?').collect::<Vec<_>>();
        let decoded = (word.len() == 3)
            .then(|| {
                let text_end = word[2].find("?=")?;
                let text = &word[2][..text_end];
                let bytes = match word[1].to_ascii_lowercase().as_str() {
                    "b" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()?,
                    "q" => decode_qp(&text.replace('_', " ")),
                    _ => return None,
                };
                let consumed = 2 + word[0].len() + 1 + word[1].len() + 1 + text_end + 2;
                Some((String::from_utf8(bytes).ok()?, consumed))
            })
            .flatten();
        match decoded {
            Some((text, consumed)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &after[consumed..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &after[2..];
                last_was_word = false;
            }
        }
    }
    out
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_reader_decodes_encoded_words_and_qp() {
    assert_eq!(
        decode_words("=?utf-8?b?Q2Fmw6k=?= =?utf-8?b?IOKYlQ==?="),
        "Café ☕"
    );
    assert_eq!(
        decode_words("Hello =?utf-8?q?W=C3=B6rld_!?= x"),
        "Hello Wörld ! x"
    );
    assert_eq!(decode_words("plain"), "plain");
    assert_eq!(decode_qp("a=3Db=\r\nc"), b"a=bc");
}
