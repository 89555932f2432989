//! The failure every adapter reports when its backing service misbehaves. Adapters translate their
//! driver's errors into this, keeping the cause chain for the single place that logs it.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct InfraError {
    pub context: String,
    /// Worth retrying (connection lost, timeout, broker unavailable) rather than a bug or bad data.
    pub transient: bool,
    #[source]
    pub source: Option<BoxError>,
}

impl InfraError {
    pub fn transient(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            context: context.into(),
            transient: true,
            source: Some(source.into()),
        }
    }

    pub fn permanent(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            context: context.into(),
            transient: false,
            source: Some(source.into()),
        }
    }

    pub fn msg(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            transient: false,
            source: None,
        }
    }
}

/// Renders an error with its whole cause chain on one line, for logs and problem details.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
