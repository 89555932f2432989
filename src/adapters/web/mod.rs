//! The web page for people, served by the backend role at `/`: server-rendered HTML (maud) on the
//! same use cases as the REST API and MCP (`app::Services`), enhanced by one small, type-checked
//! script (`assets/web/app.js`) for live updates (Server-Sent Events of the signed-in user's own
//! outbox events), the recurrence preview while typing, and form submission without a reload.
//! Every page works without JavaScript.
//!
//! Routes (all HTML unless said otherwise):
//! - `GET /login` sign-in page, or with `?token=` a one-time link's redemption; `POST /login` the
//!   same with a pasted link; `POST /logout`.
//! - `GET /` the task list (filters, sort, search, pagination) with quick-add; `POST /tasks`.
//! - `GET /tasks/{id}` edit page with reminder history; `POST /tasks/{id}` save;
//!   `POST /tasks/{id}/complete|reopen|delete`; `POST /undo`; `POST /tasks/{id}/reminders`,
//!   `POST /tasks/{id}/reminders/{rid}/cancel`.
//! - `GET /labels`, `POST /categories`, `POST /categories/{id}`, `POST /categories/{id}/delete`,
//!   and the same for `/tags`.
//! - `GET /profile`, `POST /profile`.
//! - `GET /events` (text/event-stream), `GET /preview` (JSON), `GET /assets/{name}`.
//!
//! See [`session`] for the cookie, sign-in links and CSRF. [`router`] sets no fallback, so it
//! can be merged into the REST router.

pub mod assets;
pub mod due_phrase;
pub mod events;
pub mod format;
pub mod labels;
pub mod layout;
pub mod login;
pub mod preview;
pub mod profile;
pub mod rules;
pub mod session;
pub mod task_edit;
pub mod tasks;
pub mod undo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use tokio::sync::watch;

use crate::app::{ServiceError, Services};
use crate::auth::Auth;
use crate::ports::Outbox;
pub use session::{Keys, LINK_TTL, Session};

/// Everything the page needs, built by the composition root.
pub struct WebState {
    pub services: Services,
    /// Verifies session tokens (the same signing secret as the REST API).
    pub auth: Arc<Auth>,
    /// Keys for sign-in links and CSRF tokens, derived from the signing secret.
    pub keys: Keys,
    /// The live feed's source: the user's recorded events.
    pub outbox: Arc<dyn Outbox>,
    /// Ends open event streams when it turns true, so a graceful shutdown is not held up by them.
    pub shutdown: Option<watch::Receiver<bool>>,
    /// How often each event stream looks for new events (other processes write them too).
    pub poll_every: Duration,
}

impl WebState {
    pub fn new(
        services: Services,
        auth: Arc<Auth>,
        secret: &[u8],
        outbox: Arc<dyn Outbox>,
    ) -> Self {
        Self {
            services,
            auth,
            keys: Keys::new(secret),
            outbox,
            shutdown: None,
            poll_every: Duration::from_millis(300),
        }
    }

    pub fn with_shutdown(mut self, rx: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(rx);
        self
    }
}

pub(crate) type WebApp = Arc<WebState>;

/// Form bodies are small; 64 KiB leaves room for a 10 000-character description.
const FORM_LIMIT: usize = 64 * 1024;

/// The page's routes, state applied; no fallback (merge it into the REST router).
pub fn router(state: WebState) -> Router {
    let state: WebApp = Arc::new(state);
    Router::new()
        .route("/", get(tasks::list_page))
        .route("/login", get(login::login_page).post(login::login_form))
        .route("/logout", post(login::logout))
        .route("/tasks", post(tasks::quick_add))
        .route(
            "/tasks/{id}",
            get(task_edit::edit_page).post(task_edit::save),
        )
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route("/tasks/{id}/reopen", post(tasks::reopen))
        .route("/tasks/{id}/delete", post(undo::delete))
        .route("/undo", post(undo::undo))
        .route("/tasks/{id}/reminders", post(task_edit::add_reminder))
        .route(
            "/tasks/{id}/reminders/{rid}/cancel",
            post(task_edit::cancel_reminder),
        )
        .route("/labels", get(labels::labels_page))
        .route("/categories", post(labels::create_category))
        .route("/categories/{id}", post(labels::update_category))
        .route("/categories/{id}/delete", post(labels::delete_category))
        .route("/tags", post(labels::create_tag))
        .route("/tags/{id}", post(labels::update_tag))
        .route("/tags/{id}/delete", post(labels::delete_tag))
        .route("/profile", get(profile::profile_page).post(profile::save))
        .route("/events", get(events::stream))
        .route("/preview", get(preview::preview))
        .route("/assets/{name}", get(assets::serve))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(from_fn(security_headers))
        .with_state(state)
}

/// A one-time sign-in URL for `sub` on the server at `base` (e.g. `http://127.0.0.1:8080`).
/// Used by `tickler login-link` and printed by `--role all` at start-up.
pub fn login_url(
    secret: &[u8],
    base: &str,
    sub: &str,
    email: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let user = crate::domain::UserId::parse(sub).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
    let token = Keys::new(secret).mint_link(&user, email, name, LINK_TTL);
    Ok(format!(
        "{}/login?token={token}",
        base.trim_end_matches('/')
    ))
}

/// The user `--role all` prints a sign-in link for at start-up (the embedded default has no
/// identity provider). The address is a placeholder so reminder mails work out of the box; the
/// profile page changes it.
pub const LOCAL_USER: (&str, &str) = ("local", "local@tickler.localhost");

/// The line `--role all` prints at start-up: a one-time sign-in link for the local user.
pub fn startup_login_line(secret: &[u8], addr: std::net::SocketAddr) -> String {
    let (sub, email) = LOCAL_USER;
    match login_url(secret, &base_url(addr), sub, Some(email), None) {
        Ok(url) => format!(
            "Open this one-time link to sign in (valid {} minutes): {url}",
            LINK_TTL.as_secs() / 60
        ),
        Err(e) => format!("no sign-in link: {e}"),
    }
}

/// The base URL of a server listening on `addr` (an unspecified address is reached on loopback).
pub fn base_url(addr: std::net::SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// Strict CSP (scripts and styles from this origin only, no inline code), no framing, no
/// referrer to other sites (a sign-in link's token must not leak; `no-referrer` would also make
/// Chromium send `Origin: null` on form posts, defeating the origin check), pages never cached.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// What a page answers when it cannot show what was asked.
#[derive(Debug)]
pub enum WebError {
    /// No valid session: the sign-in page, with why.
    SignIn(session::NoSession),
    /// A state-changing request from another site, or without the right CSRF token.
    Forbidden,
    NotFound(String),
    /// Bad input outside of a form that re-renders itself.
    Invalid(String),
    /// A storage or transport failure (logged where it is converted).
    Unavailable,
    Internal,
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::TaskNotFound(_) => Self::NotFound("No such task.".into()),
            ServiceError::LabelNotFound(kind, _) => {
                Self::NotFound(format!("No such {}.", kind.noun().to_lowercase()))
            }
            ServiceError::ReminderNotFound(_) => {
                Self::NotFound("No such reminder, or it is no longer pending.".into())
            }
            ServiceError::Internal(i) => {
                tracing::error!(error = %crate::ports::error::chain(&i), "page request failed");
                if i.transient {
                    Self::Unavailable
                } else {
                    Self::Internal
                }
            }
            other => Self::Invalid(other.to_string()),
        }
    }
}

impl From<crate::domain::ValidationError> for WebError {
    fn from(e: crate::domain::ValidationError) -> Self {
        Self::Invalid(e.message)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Self::SignIn(why) => {
                let reason = match why {
                    session::NoSession::Missing => "signin",
                    session::NoSession::Expired => "expired",
                };
                return Redirect::to(&format!("/login?reason={reason}")).into_response();
            }
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "This request did not come from this page (the form was stale or sent from another site). Go back, reload the page and try again.".to_owned(),
            ),
            Self::NotFound(t) => (StatusCode::NOT_FOUND, "Not found", t),
            Self::Invalid(t) => (StatusCode::UNPROCESSABLE_ENTITY, "Could not do that", t),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "A service Tickler depends on is unavailable for a moment. Try again shortly.".to_owned(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "An internal error occurred; it has been logged.".to_owned(),
            ),
        };
        let body = layout::bare(
            title,
            html! {
                h1 { (title) }
                p #problem { (text) }
                p { a href="/" { "Back to your tasks" } }
            },
        );
        (status, body).into_response()
    }
}

impl FromRequestParts<WebApp> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebApp) -> Result<Self, WebError> {
        let session = session::session_from(&parts.headers, &state.auth, &state.keys)
            .map_err(WebError::SignIn)?;
        if parts.method != Method::GET
            && parts.method != Method::HEAD
            && !session::same_origin(&parts.headers)
        {
            return Err(WebError::Forbidden);
        }
        Ok(session)
    }
}

/// A form body as name/value pairs (repeated names kept, as checkboxes send them).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Checks the form's CSRF token against the session.
    pub fn check_csrf(&self, state: &WebState, session: &Session) -> Result<(), WebError> {
        match self.get("_csrf") {
            Some(t) if state.keys.csrf_matches(&session.token, t) => Ok(()),
            _ => Err(WebError::Forbidden),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Self(v))
            .map_err(|e| WebError::Invalid(format!("Could not read the form: {}", e.body_text())))
    }
}

/// Redirect after a successful POST (303, so the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A path inside this site to come back to (from a form's `back` field), never another site.
pub fn local_path(raw: Option<&str>) -> String {
    match raw {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Appends `key=value` to a local path's query.
pub fn with_param(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={}", urlencode(value))
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What every signed-in page needs: who, their profile (time zone), and the time of rendering.
pub struct Ctx {
    pub session: Session,
    pub user: crate::domain::user::User,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Ctx {
    pub async fn new(state: &WebState, session: Session) -> Result<Self, WebError> {
        let user = state.services.current_user(&session.actor).await?;
        Ok(Self {
            session,
            user,
            now: state.services.clock.now(),
        })
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.user.time_zone
    }

    pub fn page(&self, title: &str, nav: layout::Nav, body: maud::Markup) -> maud::Markup {
        layout::page(title, nav, &self.session, self.now.timestamp_millis(), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_paths_stay_on_this_site() {
        assert_eq!(local_path(Some("/?status=all")), "/?status=all");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil")), "/");
        assert_eq!(local_path(None), "/");
        assert_eq!(with_param("/?a=1", "flash", "a b"), "/?a=1&flash=a%20b");
    }
}
