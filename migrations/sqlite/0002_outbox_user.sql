-- Whose event each outbox record is: the web page's live feed reads a user's recent events from
-- the outbox. Older rows get it from their payload (every event's data names its user).
ALTER TABLE outbox ADD COLUMN user_id TEXT;
UPDATE outbox SET user_id = json_extract(CAST(payload AS TEXT), '$.data.user_id') WHERE user_id IS NULL;
CREATE INDEX outbox_by_user ON outbox (user_id, seq);
-- Published rows are purged by age.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
