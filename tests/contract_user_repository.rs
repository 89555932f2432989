//! UserRepository contract for every adapter.

mod contract;

mod sqlite {
    crate::contract::users::user_repository_tests!(crate::contract::adapters::sqlite_stores);
}
