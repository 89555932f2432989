//! Signing in with a one-time link, and signing out.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::session::{self, LinkError};
use super::{Fields, WebApp, WebError, layout, see_other};

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub token: Option<String>,
    pub reason: Option<String>,
}

fn sign_in_page(status: StatusCode, message: Option<&str>, is_error: bool) -> Response {
    let body = html! {
        div.signin {
            h1 { "Sign in to Tickler" }
            @if let Some(m) = message {
                p #signin-message class=(if is_error { "error" } else { "flash" }) role=(if is_error { "alert" } else { "status" }) { (m) }
            }
            p { "Tickler signs you in with a one-time link. On the server, run:" }
            pre { code { "tickler login-link --sub <your user id> --email <you@example.com>" } }
            p { "and open the link it prints (it works once, for 15 minutes). "
                "When Tickler runs with " code { "--role all" } ", it prints a link for the local user at start-up." }
            form method="post" action="/login" {
                div.field {
                    label for="link" { "Or paste the sign-in link here" }
                    input #link name="link" type="url" required autocomplete="off" placeholder="http://127.0.0.1:8080/login?token=…";
                }
                div.actions { button.primary type="submit" { "Sign in" } }
            }
        }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

fn reason_text(reason: Option<&str>) -> Option<(&'static str, bool)> {
    Some(match reason? {
        "expired" => (
            "Your session has expired or is no longer valid. Sign in again to continue.",
            true,
        ),
        "signin" => ("Sign in to see your tasks.", false),
        "signed-out" => ("You have been signed out.", false),
        _ => return None,
    })
}

async fn redeem(state: &WebApp, headers: &HeaderMap, token: &str) -> Response {
    match state.keys.redeem_link(&state.services, token).await {
        Ok(actor) => {
            // The profile is created (or its blanks filled) from the link's claims now.
            if let Err(e) = state.services.current_user(&actor).await {
                return WebError::from(e).into_response();
            }
            let session = state.auth.mint(
                actor.user_id.as_str(),
                actor.email.as_deref(),
                actor.name.as_deref(),
                session::SESSION_TTL.as_secs(),
            );
            // A page that moves on by itself rather than a redirect: a SameSite=Strict cookie set
            // while following a link from another site would not be sent on the redirect.
            let body = layout::bare(
                "Signed in",
                html! {
                    h1 { "Signed in" }
                    p { "Welcome. " a #continue href="/" { "Continue to your tasks" } "." }
                },
            );
            let mut res = (StatusCode::OK, body).into_response();
            let h = res.headers_mut();
            h.insert(
                header::SET_COOKIE,
                session::set_session_cookie(headers, &session),
            );
            h.insert(
                header::REFRESH,
                axum::http::HeaderValue::from_static("0; url=/"),
            );
            res
        }
        Err(LinkError::AlreadyUsed) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("This sign-in link has already been used. Ask for a new one."),
            true,
        ),
        Err(LinkError::Invalid) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("This sign-in link is not valid or has expired. Ask for a new one."),
            true,
        ),
        Err(LinkError::Unavailable) => WebError::Unavailable.into_response(),
    }
}

pub async fn login_page(
    State(state): State<WebApp>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(token) = q.token.as_deref().filter(|t| !t.is_empty()) {
        return redeem(&state, &headers, token).await;
    }
    let (message, is_error) = match reason_text(q.reason.as_deref()) {
        Some((m, e)) => (Some(m), e),
        None => (None, false),
    };
    sign_in_page(StatusCode::OK, message, is_error)
}

/// A pasted link (or its bare token).
pub async fn login_form(State(state): State<WebApp>, headers: HeaderMap, f: Fields) -> Response {
    if !session::same_origin(&headers) {
        return WebError::Forbidden.into_response();
    }
    let raw = f.text("link").unwrap_or_default();
    let token = raw
        .split_once("token=")
        .map_or(raw, |(_, t)| t.split('&').next().unwrap_or(""));
    redeem(&state, &headers, token).await
}

/// Ends the session in this browser. (The cookie holds a signed token, which stays valid until
/// it expires if it was copied elsewhere; see the README.)
pub async fn logout(State(state): State<WebApp>, headers: HeaderMap, f: Fields) -> Response {
    if !session::same_origin(&headers) {
        return WebError::Forbidden.into_response();
    }
    if let Ok(s) = session::session_from(&headers, &state.auth, &state.keys)
        && f.check_csrf(&state, &s).is_err()
    {
        return WebError::Forbidden.into_response();
    }
    let mut res = see_other("/login?reason=signed-out");
    res.headers_mut()
        .insert(header::SET_COOKIE, session::clear_session_cookie(&headers));
    res
}
