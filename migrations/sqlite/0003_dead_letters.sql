-- Events no consumer could process (ports::DeadLetters): seen and replayed by an operator with
-- `tickler dead-letters`. One record per event id and topic: a transport may report an event
-- twice (the consumer that rejected it, then the dead-letter topic's subscriber).
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT NOT NULL,
    key         TEXT NOT NULL,
    consumer    TEXT,
    event_id    TEXT,
    reason      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (topic, event_id) WHERE event_id IS NOT NULL;
