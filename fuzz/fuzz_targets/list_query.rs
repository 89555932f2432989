//! `GET /api/v1/tasks?…`: the query string goes through the same extractor and validation as the
//! server's (filters, sort, search text, cursors); every input is Ok or a ValidationError with a
//! field, never a panic. Cursors are also fed to `Cursor::decode` on their own.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;
use tickler::adapters::http::tasks::ListParams;
use tickler::domain::query::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cursor) = Cursor::decode(text) {
        let again = Cursor::decode(&cursor.encode()).expect("an issued cursor decodes");
        assert_eq!(again.encode(), cursor.encode());
    }
    let Ok(uri) = format!("/api/v1/tasks?{text}").parse::<Uri>() else {
        return;
    };
    let Ok(Query(params)) = Query::<ListParams>::try_from_uri(&uri) else {
        return;
    };
    if let Err(e) = params.into_query() {
        assert!(e.field.is_some(), "a refused parameter is named: {e:?}");
    }
});
