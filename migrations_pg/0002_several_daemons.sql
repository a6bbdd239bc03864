-- Several daemons on one database: what lets them share it safely (the twin of
-- migrations/0012_several_daemons.sql, which adds the same to SQLite, where one daemon holds the
-- database and the columns only ever name it).

-- Who claimed a job (a daemon's node id) and until when the claim is theirs alone, in
-- milliseconds on the database's clock. A claim whose daemon died is released once it expires.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN claim_until BIGINT;

-- The daemon that committed an attempt and is sending it, until when that is theirs alone (the
-- database's clock), and when it checked that lease just before sending (NULL: it never sent).
-- An attempt whose lease expired is never sent again on a timer: one that was never sent is
-- voided; one that may have been is looked up at Bland by its id.
ALTER TABLE attempts ADD COLUMN owner TEXT;
ALTER TABLE attempts ADD COLUMN lease_until BIGINT;
ALTER TABLE attempts ADD COLUMN send_started_at BIGINT;

-- An attempt certainly never placed (voided: a 429, a refused connection, proven absent at
-- Bland, or never sent before its lease ran out) is sent again under its own id: the job keeps
-- it here until its next attempt is committed, which replaces the voided row.
ALTER TABLE jobs ADD COLUMN resend_attempt_id TEXT;

-- At most one live attempt per job, whatever any daemon does.
CREATE UNIQUE INDEX attempts_live_per_job ON attempts (job_id) WHERE state = 'dialing' OR state = 'in_call';

-- Singleton duties (reconciling other daemons' attempts, completing campaigns, pruning): one
-- daemon holds each lease, renewed while it lives (the database's clock).
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL
);

-- Shared pacing on PostgreSQL: each campaign's next theoretical dial time (GCRA), so N daemons
-- do not multiply a campaign's rate; and the account's slowdown after Bland's 429s.
CREATE TABLE pacing (
    campaign_id TEXT PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    tat         BIGINT NOT NULL
);
CREATE TABLE account_slowdown (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    not_before  BIGINT NOT NULL,
    rounds      BIGINT NOT NULL DEFAULT 0
);
