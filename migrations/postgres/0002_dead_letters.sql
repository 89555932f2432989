-- Events no consumer could process (ports::DeadLetters): seen and replayed by an operator with
-- `tickler dead-letters`. One record per event id and topic: a transport may report an event
-- twice (the consumer that rejected it, then the dead-letter topic's subscriber).
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    key         text NOT NULL,
    consumer    text,
    event_id    text,
    reason      text NOT NULL,
    -- The exact bytes received (bytea: they may not even be UTF-8).
    payload     bytea NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (topic, event_id) WHERE event_id IS NOT NULL;
