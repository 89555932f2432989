//! Credentials: the JWT signing secret and the SMTP password, from configuration or (embedded
//! default only) generated once into the data directory.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::{Config, Transport};

/// The signing secret: configured, or (embedded default only) generated once and kept in the
/// data directory so tokens survive restarts.
pub fn signing_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.auth.secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    if config.transport() != Transport::Embedded || config.uses_postgres() {
        bail!(
            "auth.secret is not set: set TICKLER_AUTH__SECRET or BETTER_AUTH_SECRET (a shared secret is required outside the embedded default)"
        );
    }
    load_or_create_secret(&config.data_dir.join("secret"))
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().as_bytes().to_vec());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}
