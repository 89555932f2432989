//! `SecretStore` through the sidecar (`GET /v1.0/secrets/{store}/{name}`), and the start-up step
//! that replaces configured credentials with the store's.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::client::{ApiError, Sidecar, segment};
use crate::config::{Config, Secret};
use crate::ports::{InfraError, SecretStore};

#[derive(Clone)]
pub struct DaprSecretStore {
    sidecar: Sidecar,
    store: String,
}

impl DaprSecretStore {
    pub(crate) fn new(sidecar: Sidecar, store: String) -> Self {
        Self { sidecar, store }
    }
}

#[async_trait]
impl SecretStore for DaprSecretStore {
    /// daprd answers a missing secret with 500 `ERR_SECRET_GET` "… not found" (that is `None`),
    /// an unknown store with 401 `ERR_SECRET_STORE_NOT_FOUND` and a name outside the
    /// Configuration's secret scopes with 403 (both permanent errors naming the cause).
    async fn get(&self, name: &str) -> Result<Option<Secret>, InfraError> {
        let context = format!("reading secret {name} from {}", self.store);
        let path = format!("/v1.0/secrets/{}/{}", segment(&self.store), segment(name));
        let resp = self
            .sidecar
            .send(self.sidecar.request(Method::GET, &path), &context)
            .await?;
        if resp.status().is_success() {
            let mut values: std::collections::HashMap<String, String> = resp
                .json()
                .await
                .map_err(|e| InfraError::permanent(format!("{context}: unexpected answer"), e))?;
            // The answer maps the secret's keys to values; a plain secret has one, its name.
            let value = values.remove(name).or_else(|| {
                (values.len() == 1)
                    .then(|| values.into_values().next())
                    .flatten()
            });
            return Ok(value.map(Secret::new));
        }
        let err = ApiError::read(resp).await;
        match (err.status, err.code.as_str()) {
            (_, "ERR_SECRET_GET") if err.message.to_ascii_lowercase().contains("not found") => {
                Ok(None)
            }
            (StatusCode::UNAUTHORIZED, "ERR_SECRET_STORE_NOT_FOUND") => Err(InfraError::permanent(
                format!(
                    "{context}: the sidecar has no secret store called {} (dapr.secretstore)",
                    self.store
                ),
                err,
            )),
            (StatusCode::FORBIDDEN, _) => Err(InfraError::permanent(
                format!(
                    "{context}: the sidecar's Configuration does not allow reading it (secret scopes)"
                ),
                err,
            )),
            _ => Err(err.into_infra(context)),
        }
    }
}

/// Replaces `auth.secret`, `smtp.password` and `database_url` with the secrets named in
/// `dapr.secrets` when the store has them (a non-empty value); what the store lacks stays as
/// configured. An empty name in `dapr.secrets` skips that credential. Called at start-up, once
/// the sidecar answers, before anything uses the configuration's credentials.
pub async fn resolve_secrets(
    config: &mut Config,
    store: &dyn SecretStore,
) -> Result<(), InfraError> {
    let names = config.dapr.secrets.clone();
    let read = |name: String| async move {
        if name.is_empty() {
            return Ok(None);
        }
        Ok::<_, InfraError>(store.get(&name).await?.filter(|s| !s.expose().is_empty()))
    };
    if let Some(secret) = read(names.auth_secret.clone()).await? {
        if secret.expose().len() < 16 {
            return Err(InfraError::msg(format!(
                "secret {} (auth.secret) must be at least 16 characters",
                names.auth_secret
            )));
        }
        config.auth.secret = Some(secret);
    }
    if config.smtp.is_some()
        && let Some(password) = read(names.smtp_password.clone()).await?
        && let Some(smtp) = config.smtp.as_mut()
    {
        smtp.password = Some(password);
    }
    if let Some(url) = read(names.database_url.clone()).await? {
        let u = url.expose();
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| u.starts_with(p))
        {
            return Err(InfraError::msg(format!(
                "secret {} (database_url) must be a sqlite:, postgres:// or postgresql:// URL",
                names.database_url
            )));
        }
        config.database_url = Some(u.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpSettings;
    use std::collections::HashMap;

    struct Fixed(HashMap<&'static str, &'static str>);

    #[async_trait]
    impl SecretStore for Fixed {
        async fn get(&self, name: &str) -> Result<Option<Secret>, InfraError> {
            Ok(self.0.get(name).map(|v| Secret::new(*v)))
        }
    }

    #[tokio::test]
    async fn store_values_replace_configured_ones_and_gaps_keep_them() {
        let mut config = Config::default();
        config.auth.secret = Some(Secret::new("configured-secret-0123"));
        config.smtp = Some(SmtpSettings::default());
        let store = Fixed(HashMap::from([
            ("tickler-smtp-password", "mail-pass"),
            ("tickler-database-url", "postgres://u:p@db/tickler"),
            ("tickler-auth-secret", ""),
        ]));
        resolve_secrets(&mut config, &store).await.unwrap();
        assert_eq!(
            config.auth.secret.as_ref().unwrap().expose(),
            "configured-secret-0123",
            "an empty secret does not replace the configured one"
        );
        assert_eq!(config.smtp.unwrap().password.unwrap().expose(), "mail-pass");
        assert_eq!(config.database_url.unwrap(), "postgres://u:p@db/tickler");
    }

    #[tokio::test]
    async fn bad_values_are_refused_with_the_secret_name() {
        let mut config = Config::default();
        let store = Fixed(HashMap::from([("tickler-auth-secret", "short")]));
        let err = resolve_secrets(&mut config, &store).await.unwrap_err();
        assert!(
            err.context.contains("tickler-auth-secret"),
            "{}",
            err.context
        );
        let store = Fixed(HashMap::from([("tickler-database-url", "mysql://x")]));
        assert!(resolve_secrets(&mut config, &store).await.is_err());
    }
}
