//! The caller's profile: created from the token on first sight, edited through `/me`.

use super::input::UserPatchInput;
use super::{Actor, ServiceError, Services};
use crate::domain::user::{
    User, parse_default_reminder, parse_display_name, parse_email, parse_time_zone,
};

impl Services {
    pub async fn current_user(&self, actor: &Actor) -> Result<User, ServiceError> {
        // Every task creation needs the user's preferences: read first, and write only for a new
        // user or a claim that fills a blank, so the common request costs no extra write.
        if let Some(user) = self.users.get(&actor.user_id).await? {
            let fills_blank = (user.email.is_none() && actor.email.is_some())
                || (user.name.is_none() && actor.name.is_some());
            if !fills_blank {
                return Ok(user);
            }
        }
        Ok(self
            .users
            .upsert_from_claims(
                &actor.user_id,
                actor.email.as_deref(),
                actor.name.as_deref(),
            )
            .await?)
    }

    /// Validates every field before writing any, so a bad field changes nothing.
    pub async fn update_user(
        &self,
        actor: &Actor,
        input: UserPatchInput,
    ) -> Result<User, ServiceError> {
        let mut user = self.current_user(actor).await?;
        if let Some(e) = input.email.as_deref() {
            user.email = Some(parse_email(e)?);
        }
        if let Some(n) = input.name.as_deref() {
            user.name = Some(parse_display_name(n)?);
        }
        if let Some(tz) = input.time_zone.as_deref() {
            user.time_zone = parse_time_zone(tz)?;
        }
        if let Some(m) = input.default_reminder_minutes {
            user.default_reminder_minutes = parse_default_reminder(m)?;
        }
        Ok(self.users.save(&user).await?)
    }
}
