-- Tickler's SQLite schema.
--
-- Conventions:
-- * Every instant is an INTEGER of microseconds since the Unix epoch, UTC. Integers sort and
--   compare exactly (no text-format or time-zone pitfalls), and microseconds are the precision
--   PostgreSQL keeps too, so both SQL adapters round-trip the same values.
-- * Booleans are INTEGER 0/1 with a CHECK.
-- * Ids are AUTOINCREMENT so an id is never reused after a delete: ids appear in events, cursors
--   and job names, and a reused id would make an old event or job refer to a new row.
-- * User ids are not foreign keys to `users`: the token's subject is the authority, and a user row
--   only holds preferences.

CREATE TABLE users (
    id                       TEXT PRIMARY KEY NOT NULL,
    email                    TEXT,
    name                     TEXT,
    time_zone                TEXT NOT NULL DEFAULT 'UTC',
    default_reminder_minutes INTEGER CHECK (default_reminder_minutes >= 0)
);

-- Categories and tags share one table: they differ only in limits and in how tasks use them.
-- Names are unique per user and kind, case-sensitively (BINARY collation), as in the seed.
CREATE TABLE labels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('category', 'tag')),
    name       TEXT NOT NULL,
    color      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, kind, name)
);
CREATE INDEX labels_by_user ON labels (user_id, kind, created_at, id);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT NOT NULL,
    title            TEXT NOT NULL,
    -- The title lower-cased by Rust's `str::to_lowercase`, written by the adapter. SQLite's lower()
    -- folds ASCII only, so sorting on it would disagree with `domain::query::sort_value` (and the
    -- cursors it produces) for titles such as "École".
    title_key        TEXT NOT NULL,
    description      TEXT,
    -- Importance as `domain::query::importance`: 0 low, 1 medium, 2 high, 3 urgent, so that
    -- "priority desc" is a plain descending index scan.
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),
    due_date         INTEGER,
    category_id      INTEGER REFERENCES labels (id) ON DELETE SET NULL,
    recurrence_rule  TEXT,
    series_start     INTEGER,
    -- One successor per occurrence of a recurring task: the recurring role may see the same
    -- `task.completed` twice, and the second insert must fail instead of duplicating the series.
    previous_task_id INTEGER UNIQUE,
    completed        INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    completed_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- One index per sort key, each ending in id (the keyset tie-breaker). The due-date expressions are
-- exactly the ones the list query orders by: tasks without a due date sort last in both directions.
CREATE INDEX tasks_by_created ON tasks (user_id, created_at, id);
CREATE INDEX tasks_by_due_asc ON tasks (user_id, COALESCE(due_date, 9223372036854775807), id);
CREATE INDEX tasks_by_due_desc ON tasks (user_id, COALESCE(due_date, -9223372036854775808), id);
CREATE INDEX tasks_by_priority ON tasks (user_id, priority, id);
CREATE INDEX tasks_by_title ON tasks (user_id, title_key, id);
-- Foreign-key children are indexed so ON DELETE actions do not scan the table.
CREATE INDEX tasks_by_category ON tasks (category_id) WHERE category_id IS NOT NULL;

CREATE TABLE task_tags (
    task_id  INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    tag_id   INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    -- Keeps the order the task lists its tags in, so a task reads back exactly as written.
    position INTEGER NOT NULL,
    PRIMARY KEY (task_id, tag_id)
) WITHOUT ROWID;
CREATE INDEX task_tags_by_tag ON task_tags (tag_id);

CREATE TABLE reminders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id        INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    minutes_before INTEGER CHECK (minutes_before >= 0),
    remind_at      INTEGER NOT NULL,
    status         TEXT NOT NULL
        CHECK (status IN ('scheduled', 'sent', 'failed', 'cancelled', 'skipped')),
    fired_at       INTEGER,
    delivered_at   INTEGER,
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    created_at     INTEGER NOT NULL
);
CREATE INDEX reminders_by_task ON reminders (task_id);
-- Pending reminders, walked by id at start-up reconciliation.
CREATE INDEX reminders_pending ON reminders (id) WHERE status = 'scheduled' AND fired_at IS NULL;

-- Full-text search over title and description. External content: the text lives once, in
-- `tasks`; the triggers below keep the index in step. `remove_diacritics 0` matches the domain's
-- rule (`search_score` compares lower-cased words exactly, so "ecole" does not find "école").
CREATE VIRTUAL TABLE tasks_fts USING fts5 (
    title,
    description,
    content = 'tasks',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
END;
CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO tasks_fts (tasks_fts, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
END;
CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks
WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
    INSERT INTO tasks_fts (tasks_fts, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
    INSERT INTO tasks_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
END;

-- The transactional outbox. Rows are written in the same transaction as the data they describe
-- and relayed afterwards; published rows stay (published_at set) for inspection.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT NOT NULL,
    key             TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    payload         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    published_at    INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- 0 (the epoch) for a new row: claimable at once whatever the relay's clock says.
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_unpublished_by_key ON outbox (topic, key, seq) WHERE published_at IS NULL;

-- Key/value state with ETags and TTL (Dapr state semantics). An expired row counts as absent.
CREATE TABLE state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      BLOB NOT NULL,
    etag       TEXT NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX state_by_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;

-- One-shot named jobs. `token` changes on every schedule(): a runner that finishes an old firing
-- only deletes or reschedules the row if the token is still the one it claimed, so a job replaced
-- (or cancelled and re-created) meanwhile is never lost.
CREATE TABLE jobs (
    name        TEXT PRIMARY KEY NOT NULL,
    due_at      INTEGER NOT NULL,
    payload     BLOB NOT NULL,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    token       INTEGER NOT NULL
);
CREATE INDEX jobs_by_due ON jobs (due_at);
