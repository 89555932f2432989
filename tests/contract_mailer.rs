//! The `Mailer` contract, held against both adapters: `FileMailer` on a temporary directory and
//! `SmtpMailer` against a real SMTP server (aiosmtpd, started through `scripts/smtp-server.sh` on
//! a free port). Then what only one adapter promises: the file mailer's overwrite on repeat and
//! atomic writes; SMTP login, refused recipients, and what an unreachable or silent server gives.
//!
//! Needs `python3` with `venv` and, on first run, PyPI: if the sink cannot be set up the SMTP
//! tests fail, they never skip.

mod mail_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_support::{Parsed, SinkOptions, SmtpSink, all_entries, eml_files, eventually};
use tickler::adapters::mail::{DEFAULT_MAIL_DIR, FileMailer, SmtpConfig, SmtpMailer, TlsMode};
use tickler::ports::{Email, MailError, Mailer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const FROM_EMAIL: &str = "noreply@tickler.test";
const FROM_NAME: &str = "Tickler Test";

fn email(message_id: &str) -> Email {
    Email {
        to: "ana@example.com".into(),
        to_name: Some("Ana Müller".into()),
        subject: "Reminder: Café ☕ — naïve 日本語 über alles".into(),
        text: "Task reminder\n\nCafé ☕ — naïve 日本語\n\nDue: Friday\n-- \nSent by Tickler\n"
            .into(),
        html: "<!doctype html><html><body><h3>Café ☕ — naïve 日本語</h3>\
               <p>Due: Friday</p></body></html>"
            .into(),
        message_id: message_id.into(),
    }
}

/// An adapter under test and the directory where what it delivered shows up as `.eml` files.
struct Harness {
    mailer: Arc<dyn Mailer>,
    delivered: PathBuf,
    _keep: Box<dyn std::any::Any + Send>,
}

impl Harness {
    fn file() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mail");
        let mailer = FileMailer::with_sender(&dir, FROM_NAME, FROM_EMAIL).unwrap();
        Self {
            mailer: Arc::new(mailer),
            delivered: dir,
            _keep: Box::new(tmp),
        }
    }

    fn smtp() -> Self {
        let sink = SmtpSink::start(SinkOptions::default());
        let mailer = SmtpMailer::new(smtp_config(sink.port)).unwrap();
        Self {
            mailer: Arc::new(mailer),
            delivered: sink.dir(),
            _keep: Box::new(sink),
        }
    }

    fn messages(&self) -> Vec<Parsed> {
        eml_files(&self.delivered)
            .iter()
            .map(|p| Parsed::read(p))
            .collect()
    }
}

fn smtp_config(port: u16) -> SmtpConfig {
    let mut c = SmtpConfig::new("127.0.0.1", port, FROM_EMAIL);
    c.tls = TlsMode::None;
    c.from_name = FROM_NAME.into();
    c.timeout = Duration::from_secs(10);
    c
}

/// The contract every `Mailer` meets.
mod contract {
    use super::*;

    pub async fn delivers_one_complete_message(h: &Harness) {
        let sent = email("<evt-0001@tickler>");
        h.mailer.send(&sent).await.expect("send");

        // Once, and still once a moment later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = h.messages();
        assert_eq!(got.len(), 1, "delivered: {:?}", eml_files(&h.delivered));
        let m = &got[0];

        assert_eq!(m.header("Subject").as_deref(), Some(sent.subject.as_str()));
        assert_eq!(
            m.header("Message-ID").as_deref(),
            Some("<evt-0001@tickler>")
        );
        assert_eq!(
            m.header("From").as_deref(),
            Some("\"Tickler Test\" <noreply@tickler.test>")
        );
        assert_eq!(
            m.header("To").as_deref(),
            Some("Ana Müller <ana@example.com>")
        );
        assert!(m.header("Date").is_some());
        assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
        assert!(
            m.header("Content-Type")
                .unwrap()
                .starts_with("multipart/alternative;"),
            "{}",
            m.raw
        );
        assert!(m.raw.is_ascii(), "all non-ASCII is encoded");

        assert_eq!(m.parts.len(), 2, "{:?}", m.parts);
        let text = m.part("text/plain");
        assert!(text.content_type.contains("charset=utf-8"));
        assert_eq!(text.text, sent.text);
        let html = m.part("text/html");
        assert!(html.content_type.contains("charset=utf-8"));
        assert_eq!(html.text, sent.html);
        // The text part comes first: clients show the last part they understand.
        assert!(m.parts[0].content_type.starts_with("text/plain"));
    }

    pub async fn keeps_different_messages_apart(h: &Harness) {
        let mut a = email("<evt-a@tickler>");
        a.subject = "first".into();
        let mut b = email("<evt-b@tickler>");
        b.subject = "second".into();
        b.to = "bo@example.org".into();
        b.to_name = None;
        h.mailer.send(&a).await.unwrap();
        h.mailer.send(&b).await.unwrap();

        let mut got: Vec<(String, String, String)> = h
            .messages()
            .iter()
            .map(|m| {
                (
                    m.header("Message-ID").unwrap(),
                    m.header("Subject").unwrap(),
                    m.header("To").unwrap(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "<evt-a@tickler>".into(),
                    "first".into(),
                    "Ana Müller <ana@example.com>".into()
                ),
                (
                    "<evt-b@tickler>".into(),
                    "second".into(),
                    "bo@example.org".into()
                ),
            ]
        );
    }

    pub async fn an_invalid_recipient_is_permanent(h: &Harness) {
        for to in ["not an address", "", "ana@", "a b@example.com"] {
            let mut e = email("<evt-bad@tickler>");
            e.to = to.into();
            match h.mailer.send(&e).await {
                Err(MailError::Permanent(why)) => assert!(!why.is_empty()),
                other => panic!("{to:?}: expected Permanent, got {other:?}"),
            }
        }
        assert!(h.messages().is_empty());
    }

    /// Lines that SMTP must dot-stuff, a line longer than SMTP allows, trailing spaces.
    pub async fn awkward_bodies_arrive_unchanged(h: &Harness) {
        let mut e = email("<evt-body@tickler>");
        e.text = format!(
            ".\n..\n.leading dot\nfrom the start\nFrom here\n{}\ntrailing  \n\n",
            "long ".repeat(300)
        );
        e.html = format!("<p>{}</p>\n.\n", "é".repeat(2000));
        h.mailer.send(&e).await.unwrap();
        let got = h.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].part("text/plain").text, e.text);
        assert_eq!(got[0].part("text/html").text, e.html);
        assert!(
            got[0].raw.split("\r\n").all(|l| l.len() <= 998),
            "no line over 998 octets"
        );
    }

    /// A message id without angle brackets or domain still gives a valid `Message-ID`.
    pub async fn a_bare_message_id_is_completed(h: &Harness) {
        h.mailer.send(&email("evt-bare")).await.unwrap();
        let got = h.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].header("Message-ID").as_deref(),
            Some("<evt-bare@tickler.test>")
        );
    }
}

macro_rules! contract_suite {
    ($($case:ident),* $(,)?) => {
        mod file_mailer_contract {
            $(
                #[tokio::test]
                async fn $case() {
                    super::contract::$case(&super::Harness::file()).await;
                }
            )*
        }
        mod smtp_mailer_contract {
            $(
                #[tokio::test]
                async fn $case() {
                    super::contract::$case(&super::Harness::smtp()).await;
                }
            )*
        }
    };
}

contract_suite!(
    delivers_one_complete_message,
    keeps_different_messages_apart,
    an_invalid_recipient_is_permanent,
    awkward_bodies_arrive_unchanged,
    a_bare_message_id_is_completed,
);

// ---------------------------------------------------------------------------------------------
// FileMailer only

#[tokio::test]
async fn file_mailer_overwrites_a_repeated_message_instead_of_duplicating_it() {
    let h = Harness::file();
    let mut e = email("<evt-repeat@tickler>");
    h.mailer.send(&e).await.unwrap();
    e.subject = "Reminder: second attempt".into();
    h.mailer.send(&e).await.unwrap();
    h.mailer.send(&e).await.unwrap();

    assert_eq!(all_entries(&h.delivered), ["evt-repeat@tickler.eml"]);
    let got = h.messages();
    assert_eq!(
        got[0].header("Subject").as_deref(),
        Some("Reminder: second attempt")
    );
}

#[tokio::test]
async fn file_mailer_creates_its_directory_and_names_files_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("does/not/exist/yet");
    let mailer = FileMailer::new(&dir);
    mailer
        .send(&email("<../../escape/attempt@tickler>"))
        .await
        .unwrap();
    let files = all_entries(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        !files[0].starts_with('.') && files[0].ends_with(".eml"),
        "{files:?}"
    );
    // Nothing was written outside the directory.
    assert_eq!(all_entries(&tmp.path().join("does/not/exist")), ["yet"]);
    let m = Parsed::read(&dir.join(&files[0]));
    assert_eq!(
        m.header("Message-ID").as_deref(),
        Some("<../../escape/attempt@tickler>")
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("Tickler <tickler@localhost>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_mailer_readers_never_see_half_a_message_and_no_temp_files_remain() {
    let h = Harness::file();
    let mut e = email("<evt-big@tickler>");
    e.text = "x".repeat(2_000_000);
    h.mailer.send(&e).await.unwrap();
    let path = eml_files(&h.delivered).pop().unwrap();

    let writers: Vec<_> = (0..8)
        .map(|_| {
            let mailer = Arc::clone(&h.mailer);
            let e = e.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    mailer.send(&e).await.unwrap();
                }
            })
        })
        .collect();
    let reader = tokio::task::spawn_blocking(move || {
        let mut reads = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            let bytes = std::fs::read(&path).expect("the file is always there");
            let m = Parsed::parse(&bytes); // panics on a truncated message
            assert_eq!(m.part("text/plain").text.len(), 2_000_000);
            reads += 1;
        }
        reads
    });
    for w in writers {
        w.await.unwrap();
    }
    assert!(reader.await.unwrap() > 0);
    assert_eq!(all_entries(&h.delivered), ["evt-big@tickler.eml"]);
}

#[tokio::test]
async fn file_mailer_write_failure_is_transient() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mailer = FileMailer::new(blocker.join("mail"));
    match mailer.send(&email("<evt-io@tickler>")).await {
        Err(MailError::Transient(why)) => assert!(why.contains("a-file"), "{why}"),
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[test]
fn the_embedded_default_directory() {
    assert_eq!(DEFAULT_MAIL_DIR, "./tickler-data/mail");
    assert_eq!(
        FileMailer::new(DEFAULT_MAIL_DIR).dir(),
        Path::new(DEFAULT_MAIL_DIR)
    );
}

// ---------------------------------------------------------------------------------------------
// SmtpMailer only

const USER: &str = "tickler";
const PASSWORD: &str = "correct horse battery staple";

fn auth_sink() -> SmtpSink {
    SmtpSink::start(SinkOptions {
        auth: Some((USER.into(), PASSWORD.into())),
        ..SinkOptions::default()
    })
}

#[tokio::test]
async fn smtp_logs_in_when_a_username_is_set() {
    let sink = auth_sink();
    let mut config = smtp_config(sink.port);
    config.username = Some(USER.into());
    config.password = Some(PASSWORD.into());
    let mailer = SmtpMailer::new(config).unwrap();
    mailer.send(&email("<evt-auth@tickler>")).await.unwrap();

    assert_eq!(eml_files(&sink.dir()).len(), 1);
    assert!(sink.log().contains(" accepted"), "{}", sink.log());
}

/// A rejected login (535) or a server that wants one (530) is our configuration, not the
/// message: Transient, so the delivery retries and then dead-letters instead of failing the
/// reminder for good.
#[tokio::test]
async fn smtp_wrong_password_or_missing_login_is_transient() {
    let sink = auth_sink();
    let mut config = smtp_config(sink.port);
    config.username = Some(USER.into());
    config.password = Some("wrong".into());
    match SmtpMailer::new(config)
        .unwrap()
        .send(&email("<evt-x@tickler>"))
        .await
    {
        Err(MailError::Transient(why)) => {
            assert!(why.contains("535"), "{why}");
            assert!(!why.contains("wrong"), "the password leaks into: {why}");
        }
        other => panic!("expected Transient(535), got {other:?}"),
    }
    assert!(sink.log().contains(" rejected"), "{}", sink.log());

    let anonymous = SmtpMailer::new(smtp_config(sink.port)).unwrap();
    match anonymous.send(&email("<evt-y@tickler>")).await {
        Err(MailError::Transient(why)) => assert!(why.contains("530"), "{why}"),
        other => panic!("expected Transient(530), got {other:?}"),
    }
    assert!(eml_files(&sink.dir()).is_empty());
}

#[tokio::test]
async fn smtp_refused_recipient_is_permanent_and_the_mailer_carries_on() {
    let sink = SmtpSink::start(SinkOptions {
        reject_rcpt: vec!["gone@example.com".into()],
        ..SinkOptions::default()
    });
    let mailer = SmtpMailer::new(smtp_config(sink.port)).unwrap();
    let mut e = email("<evt-550@tickler>");
    e.to = "gone@example.com".into();
    match mailer.send(&e).await {
        Err(MailError::Permanent(why)) => assert!(why.contains("550"), "{why}"),
        other => panic!("expected Permanent(550), got {other:?}"),
    }
    assert!(eml_files(&sink.dir()).is_empty());

    mailer.send(&email("<evt-after@tickler>")).await.unwrap();
    assert_eq!(eml_files(&sink.dir()).len(), 1);
}

#[tokio::test]
async fn smtp_4xx_is_transient() {
    let sink = SmtpSink::start(SinkOptions {
        tempfail_rcpt: vec!["busy@example.com".into()],
        ..SinkOptions::default()
    });
    let mut e = email("<evt-451@tickler>");
    e.to = "busy@example.com".into();
    match SmtpMailer::new(smtp_config(sink.port))
        .unwrap()
        .send(&e)
        .await
    {
        Err(MailError::Transient(why)) => assert!(why.contains("451"), "{why}"),
        other => panic!("expected Transient(451), got {other:?}"),
    }
    assert!(eml_files(&sink.dir()).is_empty());
}

#[tokio::test]
async fn smtp_nothing_listening_is_transient() {
    let port = mail_support::free_port();
    let mailer = SmtpMailer::new(smtp_config(port)).unwrap();
    let start = Instant::now();
    match mailer.send(&email("<evt-refused@tickler>")).await {
        Err(MailError::Transient(why)) => assert!(why.contains(&port.to_string()), "{why}"),
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn smtp_a_silent_server_times_out_as_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // accept, never say a word
        }
    });
    let mut config = smtp_config(port);
    config.timeout = Duration::from_millis(800);
    let mailer = SmtpMailer::new(config).unwrap();
    let start = Instant::now();
    match mailer.send(&email("<evt-silent@tickler>")).await {
        Err(MailError::Transient(_)) => {}
        other => panic!("expected Transient, got {other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn smtp_reuses_its_connection() {
    let sink = SmtpSink::start(SinkOptions::default());
    let mailer = SmtpMailer::new(smtp_config(sink.port)).unwrap();
    for i in 0..3 {
        mailer
            .send(&email(&format!("<evt-pool-{i}@tickler>")))
            .await
            .unwrap();
        // lettre hands a used connection back to its pool in a spawned task: give it the moment
        // it always has between two reminders.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(eml_files(&sink.dir()).len(), 3);
    assert_eq!(sink.ehlo_count(), 1, "{}", sink.log());
    mailer.shutdown().await;
}

/// A hand-written SMTP server whose first connection goes silent after the message data (so the
/// send times out mid-dialogue) and whose later connections behave. The next send must not reuse
/// the stuck connection.
#[tokio::test]
async fn smtp_after_a_timeout_mid_dialogue_the_next_send_uses_a_fresh_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (delivered_tx, mut delivered_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = tokio::spawn(async move {
        let mut n = 0;
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            n += 1;
            let tx = delivered_tx.clone();
            held.push(tokio::spawn(fake_smtp_session(socket, n == 1, tx)));
        }
    });

    let mut config = smtp_config(port);
    config.timeout = Duration::from_millis(800);
    let mailer = SmtpMailer::new(config).unwrap();
    match mailer.send(&email("<evt-stuck@tickler>")).await {
        Err(MailError::Transient(_)) => {}
        other => panic!("expected Transient, got {other:?}"),
    }
    // Give lettre's pool the time to take the abandoned connection back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    mailer.send(&email("<evt-next@tickler>")).await.unwrap();

    let mut ids = Vec::new();
    assert!(
        eventually(Duration::from_secs(2), || {
            while let Ok(id) = delivered_rx.try_recv() {
                ids.push(id);
            }
            ids.len() == 2
        })
        .await,
        "{ids:?}"
    );
    // Connection 1 received the first message but never acknowledged it; connection 2 took
    // the second.
    assert_eq!(ids, ["stuck <evt-stuck@tickler>", "ok <evt-next@tickler>"]);
    server.abort();
}

async fn fake_smtp_session(
    socket: tokio::net::TcpStream,
    stall_after_data: bool,
    delivered: tokio::sync::mpsc::UnboundedSender<String>,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
    let mut message_id = String::new();
    let mut in_data = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if let Some(v) = line.strip_prefix("Message-ID: ") {
                message_id = v.to_owned();
            }
            if line == "." {
                in_data = false;
                let tag = if stall_after_data { "stuck" } else { "ok" };
                let _ = delivered.send(format!("{tag} {message_id}"));
                if stall_after_data {
                    std::future::pending::<()>().await;
                }
                write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
            }
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-fake\r\n250 8BITMIME\r\n",
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await.unwrap();
    }
}
