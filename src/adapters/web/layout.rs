//! The page shell and small shared pieces of markup.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::assets;
use super::session::Session;

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Tasks,
    Labels,
    Profile,
    None,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Tickler" }
            link rel="icon" href=(assets::url("favicon.svg")) type="image/svg+xml";
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// A page for a signed-in user. `since` (ms since the epoch) is when it was rendered: the live
/// feed resumes from there.
pub fn page(title: &str, nav: Nav, session: &Session, since_ms: i64, body: Markup) -> Markup {
    let who = session
        .actor
        .name
        .clone()
        .or_else(|| session.actor.email.clone())
        .unwrap_or_else(|| session.actor.user_id.as_str().to_owned());
    let current = |n: Nav| if n == nav { Some("page") } else { None };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-since=(since_ms) data-csrf=(session.csrf) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { (PreEscaped(LOGO)) span { "Tickler" } }
                    nav aria-label="Main" {
                        ul {
                            li { a href="/" aria-current=[current(Nav::Tasks)] { "Tasks" } }
                            li { a href="/labels" aria-current=[current(Nav::Labels)] { "Categories & tags" } }
                            li { a href="/profile" aria-current=[current(Nav::Profile)] { "Profile" } }
                        }
                    }
                    form.signout method="post" action="/logout" {
                        (csrf(session))
                        span.who { (who) }
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" { (body) }
                div #live .toast role="status" aria-live="polite" aria-atomic="true" {}
                noscript { p.note { "Live updates and the recurrence preview need JavaScript; everything else works without it." } }
            }
        }
    }
}

/// A page for a visitor without a session (sign-in, errors before sign-in).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { (PreEscaped(LOGO)) span { "Tickler" } }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf); }
}

/// A message at the top of the page: `role=status` so screen readers announce it.
pub fn flash(text: &str, extra: Option<Markup>) -> Markup {
    html! {
        div.flash #flash role="status" tabindex="-1" {
            span { (text) } @if let Some(e) = extra { " " (e) }
        }
    }
}

pub fn errors(messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            div.error #form-errors role="alert" tabindex="-1" {
                @for m in messages { p { (m) } }
            }
        }
    }
}

/// A coloured dot for a label; decorative (the name is always shown next to it). SVG attributes,
/// not inline styles, so the Content-Security-Policy can forbid inline styles.
pub fn dot(color: Option<&str>) -> Markup {
    let fill = color.filter(|c| {
        c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
    });
    html! {
        svg.dot width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false" {
            circle cx="6" cy="6" r="5" fill=(fill.unwrap_or("none")) stroke="currentColor" stroke-width=(if fill.is_some() { "0" } else { "1.5" }) {}
        }
    }
}

const LOGO: &str = r##"<svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><circle cx="12" cy="12" r="10" fill="none" stroke="currentColor" stroke-width="2"/><path d="M7 12.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;
