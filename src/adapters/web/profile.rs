//! The profile: name, e-mail (where reminders go), time zone (a searchable list of IANA zones)
//! and the default reminder of new tasks.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{Ctx, Fields, Session, WebApp, WebError, see_other};
use crate::app::ServiceError;
use crate::app::input::UserPatchInput;

#[derive(Debug, Default, Deserialize)]
pub struct ProfileQuery {
    pub flash: Option<String>,
}

pub async fn profile_page(
    State(state): State<WebApp>,
    session: Session,
    Query(q): Query<ProfileQuery>,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, session).await?;
    let flash = (q.flash.as_deref() == Some("saved")).then_some("Profile saved.");
    Ok(render(&ctx, flash, None, &[]).into_response())
}

fn render(ctx: &Ctx, flash: Option<&str>, typed: Option<&Fields>, errors: &[String]) -> Markup {
    let u = &ctx.user;
    let value = |name: &str, current: Option<String>| match typed {
        Some(f) => f.get(name).unwrap_or_default().to_owned(),
        None => current.unwrap_or_default(),
    };
    let name = value("name", u.name.clone());
    let email = value("email", u.email.clone());
    let zone = value("time_zone", Some(u.time_zone.name().to_owned()));
    let minutes = value(
        "default_reminder_minutes",
        u.default_reminder_minutes.map(|m| m.to_string()),
    );
    let body = html! {
        h1 { "Profile" }
        @if let Some(t) = flash { (layout::flash(t, None)) }
        (layout::errors(errors))
        p { "Signed in as " code { (u.id.as_str()) } "." }
        form.profile #profile method="post" action="/profile" data-enhance {
            (layout::csrf(&ctx.session))
            div.field {
                label for="p-name" { "Name" }
                input #p-name name="name" maxlength="100" autocomplete="name" value=(name);
            }
            div.field {
                label for="p-email" { "E-mail (reminders are sent here)" }
                input #p-email name="email" type="email" autocomplete="email" value=(email);
            }
            div.field {
                label for="p-zone" { "Time zone" }
                input #p-zone name="time_zone" list="zones" required autocomplete="off" value=(zone)
                    aria-describedby="p-zone-help";
                small #p-zone-help { "Type to search, e.g. Paris, New_York, Tokyo. Due dates are shown and entered in this zone." }
                datalist #zones {
                    @for tz in chrono_tz::TZ_VARIANTS.iter() { option value=(tz.name()) {} }
                }
            }
            div.field {
                label for="p-minutes" { "Default reminder (minutes before the due date)" }
                input #p-minutes name="default_reminder_minutes" type="number" min="0" max="525600" inputmode="numeric"
                    value=(minutes) aria-describedby="p-minutes-help";
                small #p-minutes-help { "Leave empty for no reminder on new tasks." }
            }
            div.actions { button.primary type="submit" { "Save profile" } }
        }
    };
    ctx.page("Profile", Nav::Profile, body)
}

pub async fn save(
    State(state): State<WebApp>,
    session: Session,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let ctx = Ctx::new(&state, session).await?;
    let u = &ctx.user;
    let mut errors = Vec::new();
    let changed = |name: &str, current: Option<&str>| {
        f.text(name)
            .filter(|v| Some(*v) != current)
            .map(str::to_owned)
    };
    let minutes = match f.text("default_reminder_minutes") {
        None if u.default_reminder_minutes.is_some() => Some(None),
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(m) if Some(m) != u.default_reminder_minutes.map(i64::from) => Some(Some(m)),
            Ok(_) => None,
            Err(_) => {
                errors.push("The default reminder must be a whole number of minutes.".into());
                None
            }
        },
    };
    let input = UserPatchInput {
        name: changed("name", u.name.as_deref()),
        email: changed("email", u.email.as_deref()),
        time_zone: changed("time_zone", Some(u.time_zone.name())),
        default_reminder_minutes: minutes,
    };
    if errors.is_empty() {
        let nothing = input.name.is_none()
            && input.email.is_none()
            && input.time_zone.is_none()
            && input.default_reminder_minutes.is_none();
        if nothing {
            return Ok(see_other("/profile?flash=saved"));
        }
        match state.services.update_user(&ctx.session.actor, input).await {
            Ok(_) => return Ok(see_other("/profile?flash=saved")),
            Err(ServiceError::Invalid(v)) => errors.push(v.message),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        render(&ctx, None, Some(&f), &errors),
    )
        .into_response())
}
