-- The scheduler's next wake-up reads the earliest lapse of a lease held past its due time from
-- this index instead of scanning every pending job (issue #8).
CREATE INDEX jobs_by_lease ON jobs (lease_until) WHERE lease_until IS NOT NULL;
