//! Mailer adapters: [`SmtpMailer`] sends through an SMTP server (lettre, pooled connections),
//! [`FileMailer`] writes each message as an `.eml` file (the embedded default, under
//! [`DEFAULT_MAIL_DIR`]).
//!
//! Both build the same RFC 5322 message from an [`Email`]: `multipart/alternative` with a text and
//! an HTML part, `From: <name> <email>`, `To` with the display name when there is one, the subject,
//! and the e-mail's `message_id` as the `Message-ID` header.
//!
//! Error kinds follow one rule: [`MailError::Permanent`] means *this message* can never be
//! delivered (invalid recipient address, a 5xx refusal of the message or recipient); everything
//! about our side or the network (connection refused, timeouts, 4xx, rejected credentials, a
//! disk that cannot be written) is [`MailError::Transient`], so it is retried and, if it never
//! heals, dead-lettered where it can be replayed once fixed.

mod file;
mod file_writer;
mod smtp;

pub use file::{DEFAULT_MAIL_DIR, FileMailer};
pub use smtp::{SmtpConfig, SmtpMailer, TlsMode};

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::ports::{Email, MailError};

/// A mail adapter's configuration cannot be used (e.g. an invalid sender address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mail configuration: {0}")]
pub struct InvalidMailConfig(pub String);

/// The sender mailbox `<name> <email>` (no display name when `name` is blank).
pub(crate) fn sender(name: &str, email: &str) -> Result<Mailbox, InvalidMailConfig> {
    let address = email
        .trim()
        .parse()
        .map_err(|e| InvalidMailConfig(format!("sender address {email:?}: {e}")))?;
    Ok(Mailbox::new(display_name(Some(name)), address))
}

/// A display name fit for a header: control characters (CR, LF, …) become spaces (lettre panics on
/// them), runs of whitespace collapse, blank means none.
pub(crate) fn display_name(name: Option<&str>) -> Option<String> {
    let cleaned = name?
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Some(cleaned).filter(|n| !n.is_empty())
}

/// The `Message-ID` header value for `id`: kept as is when already `<...>`, wrapped in angle
/// brackets when it has an `@`, else given the sender's domain. Anything but visible ASCII is
/// dropped so the id cannot break the header. `None` (lettre generates one) when nothing is left.
pub(crate) fn message_id_header(id: &str, domain: &str) -> Option<String> {
    let id: String = id.chars().filter(|c| c.is_ascii_graphic()).collect();
    let bare = id.trim_start_matches('<').trim_end_matches('>');
    if bare.is_empty() {
        None
    } else if bare.contains('@') {
        Some(format!("<{bare}>"))
    } else {
        Some(format!("<{bare}@{domain}>"))
    }
}

/// `s` with every run of control characters (CR, LF, tab, …) replaced by one space.
fn one_line(s: &str) -> String {
    s.split(char::is_control)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The message both adapters send: `multipart/alternative` (text, then HTML).
pub(crate) fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let address = email.to.trim().parse().map_err(|e| {
        MailError::Permanent(format!("invalid recipient address {:?}: {e}", email.to))
    })?;
    let to_name = display_name(email.to_name.as_deref());
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(to_name, address))
        .subject(one_line(&email.subject))
        .message_id(message_id_header(&email.message_id, from.email.domain()))
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            to: "ana@example.com".into(),
            to_name: Some("Ana Müller".into()),
            subject: "Reminder: Zahlung fällig ✓".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
            message_id: "<0199-abc@tickler>".into(),
        }
    }

    #[test]
    fn message_ids_get_angle_brackets_and_a_domain() {
        assert_eq!(
            message_id_header("<a@b>", "x.org").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(message_id_header("a@b", "x.org").as_deref(), Some("<a@b>"));
        assert_eq!(
            message_id_header("evt-1", "x.org").as_deref(),
            Some("<evt-1@x.org>")
        );
        assert_eq!(
            message_id_header("a\r\nBcc: x@y@b", "x.org").as_deref(),
            Some("<aBcc:x@y@b>")
        );
        assert_eq!(message_id_header(" <> ", "x.org"), None);
    }

    #[test]
    fn the_message_has_both_parts_and_the_headers() {
        let from = sender("Tickler", "noreply@tickler.test").unwrap();
        let raw = String::from_utf8(build_message(&from, &email()).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("From: Tickler <noreply@tickler.test>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Message-ID: <0199-abc@tickler>\r\n"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.is_ascii(),
            "non-ASCII is encoded, so no 8BITMIME is needed"
        );
    }

    #[test]
    fn header_injection_through_subject_or_name_is_impossible() {
        let from = sender("Tickler", "noreply@tickler.test").unwrap();
        let mut e = email();
        e.subject = "Hi\r\nBcc: evil@example.com".into();
        e.to_name = Some("Ana\r\nBcc: evil@example.com".into());
        let raw = String::from_utf8(build_message(&from, &e).unwrap().formatted()).unwrap();
        assert!(
            !raw.lines().any(|l| l.starts_with("Bcc:")),
            "injected header in:\n{raw}"
        );
        let from = sender("Tick\nler", "noreply@tickler.test").unwrap();
        let raw = String::from_utf8(build_message(&from, &e).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("From: \"Tick ler\" <noreply@tickler.test>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Subject: Hi Bcc: evil@example.com\r\n"),
            "{raw}"
        );
    }

    #[test]
    fn awkward_display_names_are_quoted_not_misparsed() {
        let from = sender("Tickler", "noreply@tickler.test").unwrap();
        for name in ["O'Brien, \"Pat\" <boss@x.org>", "a\\b", "Zoë 😀"] {
            let mut e = email();
            e.to_name = Some(name.into());
            let message = build_message(&from, &e).unwrap();
            let to: Vec<_> = message
                .envelope()
                .to()
                .iter()
                .map(|a| a.to_string())
                .collect();
            assert_eq!(to, ["ana@example.com"], "{name}");
            let raw = String::from_utf8(message.formatted()).unwrap();
            let to_line = raw.lines().find(|l| l.starts_with("To: ")).unwrap();
            assert!(to_line.ends_with("<ana@example.com>"), "{to_line}");
        }
    }

    #[test]
    fn an_invalid_recipient_is_permanent_and_an_invalid_sender_a_config_error() {
        let from = sender("", "noreply@tickler.test").unwrap();
        let mut e = email();
        e.to = "not an address".into();
        assert!(matches!(
            build_message(&from, &e),
            Err(MailError::Permanent(_))
        ));
        assert!(sender("Tickler", "nope").is_err());
    }
}
