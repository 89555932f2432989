//! UserRepository: first sight from token claims, claims never overwriting what the user set,
//! and saving preferences.

use tickler::domain::reminder::DEFAULT_MINUTES_BEFORE;
use tickler::domain::user::User;

use super::Stores;
use super::support::*;

macro_rules! user_repository_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            users,
            users,
            [
                first_sight_creates_the_user_from_claims,
                claims_fill_blanks_but_never_overwrite,
                save_stores_preferences_and_creates_if_needed,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use user_repository_tests;

pub async fn first_sight_creates_the_user_from_claims(s: Stores) {
    let alice = uid("alice");
    assert_eq!(s.users.get(&alice).await.unwrap(), None);
    let user = s
        .users
        .upsert_from_claims(&alice, Some("alice@example.com"), Some("Alice"))
        .await
        .unwrap();
    assert_eq!(
        user,
        User {
            id: alice.clone(),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            time_zone: chrono_tz::UTC,
            default_reminder_minutes: Some(DEFAULT_MINUTES_BEFORE),
        }
    );
    assert_eq!(s.users.get(&alice).await.unwrap(), Some(user));
    let bare = s
        .users
        .upsert_from_claims(&uid("bob"), None, None)
        .await
        .unwrap();
    assert_eq!((bare.email, bare.name), (None, None));
    assert_eq!(s.users.get(&uid("carol")).await.unwrap(), None);
}

pub async fn claims_fill_blanks_but_never_overwrite(s: Stores) {
    let alice = uid("alice");
    s.users
        .upsert_from_claims(&alice, Some("alice@example.com"), None)
        .await
        .unwrap();
    let again = s
        .users
        .upsert_from_claims(&alice, Some("other@example.com"), Some("Alice"))
        .await
        .unwrap();
    assert_eq!(again.email.as_deref(), Some("alice@example.com"), "kept");
    assert_eq!(again.name.as_deref(), Some("Alice"), "filled in");
    let silent = s
        .users
        .upsert_from_claims(&alice, None, None)
        .await
        .unwrap();
    assert_eq!(silent, again, "absent claims clear nothing");

    // What the user set through the API wins over later claims, preferences included.
    let mut edited = again.clone();
    edited.name = Some("Ali".into());
    edited.time_zone = chrono_tz::Europe::Paris;
    edited.default_reminder_minutes = None;
    s.users.save(&edited).await.unwrap();
    let after = s
        .users
        .upsert_from_claims(&alice, Some("x@example.com"), Some("Alice"))
        .await
        .unwrap();
    assert_eq!(after, edited);
}

pub async fn save_stores_preferences_and_creates_if_needed(s: Stores) {
    let alice = uid("alice");
    let created = s
        .users
        .upsert_from_claims(&alice, Some("a@example.com"), Some("A"))
        .await
        .unwrap();
    let changed = User {
        email: None,
        name: Some("Alice".into()),
        time_zone: chrono_tz::America::New_York,
        default_reminder_minutes: Some(15),
        ..created
    };
    let saved = s.users.save(&changed).await.unwrap();
    assert_eq!(saved, changed, "save returns what it stored");
    assert_eq!(s.users.get(&alice).await.unwrap(), Some(changed));

    let fresh = User {
        id: uid("dave"),
        email: Some("dave@example.com".into()),
        name: None,
        time_zone: chrono_tz::Asia::Tokyo,
        default_reminder_minutes: None,
    };
    assert_eq!(s.users.save(&fresh).await.unwrap(), fresh);
    assert_eq!(s.users.get(&uid("dave")).await.unwrap(), Some(fresh));
}
