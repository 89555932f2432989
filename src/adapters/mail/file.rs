//! [`FileMailer`]: each message becomes an RFC 5322 `.eml` file in a directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::file_writer::FileWriter;
use super::{InvalidMailConfig, build_message, sender};
use crate::ports::{Email, MailError, Mailer};

/// Where the embedded setup puts its mail, relative to the working directory.
pub const DEFAULT_MAIL_DIR: &str = "./tickler-data/mail";

/// Longest readable part of a file name taken from a message id.
const MAX_STEM: usize = 120;

/// The [`Mailer`] of the embedded setup: writes every message to `<dir>/<message id>.eml`.
///
/// The file name comes from the message id, so sending the same message again replaces its file
/// instead of adding one. A message is written to a temporary file and renamed into place, so a
/// reader never sees half of it; `send` returns once the file and its name are on disk, and
/// messages sent at the same time share one flush (see `file_writer`). The directory is created
/// when missing.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
    /// Shared by clones, so their messages are flushed together.
    writer: Arc<FileWriter>,
}

impl FileMailer {
    /// Writes to `dir`, with sender `Tickler <tickler@localhost>`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            writer: Arc::new(FileWriter::new(dir.clone())),
            dir,
            from: sender("Tickler", "tickler@localhost").expect("a valid built-in sender"),
        }
    }

    /// Same, with the sender `<from_name> <from_email>`.
    pub fn with_sender(
        dir: impl Into<PathBuf>,
        from_name: &str,
        from_email: &str,
    ) -> Result<Self, InvalidMailConfig> {
        let dir = dir.into();
        Ok(Self {
            writer: Arc::new(FileWriter::new(dir.clone())),
            dir,
            from: sender(from_name, from_email)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message with this `Message-ID` header value is written to.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        self.dir.join(file_name(message_id))
    }
}

/// `<abc@tickler>` → `abc@tickler.eml`. Characters other than ASCII letters, digits and `.-_@+`
/// become `_`; when that changed anything (or the id is long), a hash of the full id is appended
/// so two different ids never share a file.
fn file_name(message_id: &str) -> String {
    let bare = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let mut stem: String = bare
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_@+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_STEM)
        .collect();
    // No hidden files, no "." or "..".
    let altered = stem != bare || stem.starts_with('.') || stem.is_empty();
    if stem.starts_with('.') {
        stem.replace_range(0..1, "_");
    }
    if altered {
        let _ = write!(stem, "-{:016x}", fnv1a(message_id.as_bytes()));
    }
    stem.push_str(".eml");
    stem
}

/// FNV-1a, 64 bit: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        let id = message
            .headers()
            .get_raw("Message-ID")
            .map(str::to_owned)
            .unwrap_or_else(|| email.message_id.clone());
        let path = self.path_for(&id);
        let bytes = message.formatted();
        self.writer
            .write(path.clone(), bytes)
            .await
            .map_err(|e| MailError::Transient(format!("cannot write {}: {e}", path.display())))?;
        tracing::debug!(message_id = %email.message_id, path = %path.display(), "mail written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_stable_and_distinct() {
        assert_eq!(file_name("<0199-abc@tickler>"), "0199-abc@tickler.eml");
        let evil = file_name("<../../etc/passwd@x>");
        assert!(!evil.contains('/') && !evil.starts_with('.'), "{evil}");
        assert_ne!(file_name("<a/b@x>"), file_name("<a_b@x>"));
        assert_ne!(file_name("<a/b@x>"), file_name("<a:b@x>"));
        assert_eq!(file_name("<a/b@x>"), file_name("<a/b@x>"));
        assert!(file_name(&"x".repeat(500)).len() < 160);
        assert!(!file_name("<..>").starts_with('.'));
        assert!(file_name("").ends_with(".eml") && file_name("").len() > 4);
    }
}
