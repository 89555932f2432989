//! LabelRepository contract for every adapter.

mod contract;

mod sqlite {
    crate::contract::labels::label_repository_tests!(crate::contract::adapters::sqlite_stores);
}
