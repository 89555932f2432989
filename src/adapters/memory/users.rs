//! `UserRepository` for `MemoryStore`.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::UserId;
use crate::domain::user::User;
use crate::ports::{RepoError, UserRepository};

#[async_trait]
impl UserRepository for MemoryStore {
    async fn upsert_from_claims(
        &self,
        id: &UserId,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<User, RepoError> {
        let mut data = self.lock();
        let user = data
            .users
            .entry(id.clone())
            .or_insert_with(|| User::from_claims(id.clone(), None, None));
        // Claims fill blanks only: what the user set through the API wins.
        if user.email.is_none() {
            user.email = email.map(str::to_owned);
        }
        if user.name.is_none() {
            user.name = name.map(str::to_owned);
        }
        Ok(user.clone())
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn save(&self, user: &User) -> Result<User, RepoError> {
        self.lock().users.insert(user.id.clone(), user.clone());
        Ok(user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::testutil::user;

    #[tokio::test]
    async fn claims_fill_blanks_only() {
        let s = MemoryStore::new();
        let id = user("alice");
        assert_eq!(UserRepository::get(&s, &id).await.unwrap(), None);
        let u = s
            .upsert_from_claims(&id, None, Some("Alice"))
            .await
            .unwrap();
        assert_eq!(u, User::from_claims(id.clone(), None, Some("Alice".into())));
        let u = s
            .upsert_from_claims(&id, Some("a@x.io"), Some("Token Name"))
            .await
            .unwrap();
        assert_eq!(
            (u.email.as_deref(), u.name.as_deref()),
            (Some("a@x.io"), Some("Alice"))
        );
        let saved = s
            .save(&User {
                email: Some("me@x.io".into()),
                time_zone: chrono_tz::Europe::Paris,
                ..u
            })
            .await
            .unwrap();
        let u = s
            .upsert_from_claims(&id, Some("other@x.io"), None)
            .await
            .unwrap();
        assert_eq!(u, saved);
        assert_eq!(UserRepository::get(&s, &id).await.unwrap(), Some(saved));
    }
}
