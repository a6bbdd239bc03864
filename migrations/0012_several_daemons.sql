-- Several daemons on one database (PostgreSQL: migrations_pg/0002_several_daemons.sql is this
-- migration's twin). On SQLite one daemon holds the database (its lock file), and the columns
-- below are written the same way but only ever name that daemon.

-- Who claimed a job (a daemon's node id) and until when the claim is theirs alone, in
-- milliseconds on the database's clock. A claim whose daemon died is released once it expires.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN claim_until INTEGER;

-- The daemon that committed an attempt and is sending it, until when that is theirs alone (the
-- database's clock), and when it checked that lease just before sending (NULL: it never sent).
-- An attempt whose lease expired is never sent again on a timer: one that was never sent is
-- voided; one that may have been is looked up at Bland by its id.
ALTER TABLE attempts ADD COLUMN owner TEXT;
ALTER TABLE attempts ADD COLUMN lease_until INTEGER;
ALTER TABLE attempts ADD COLUMN send_started_at INTEGER;

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
    until   INTEGER NOT NULL
);

-- Shared pacing on PostgreSQL: each campaign's next theoretical dial time (GCRA), so N daemons
-- do not multiply a campaign's rate; and the account's slowdown after Bland's 429s.
CREATE TABLE pacing (
    campaign_id TEXT PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    tat         INTEGER NOT NULL
);
CREATE TABLE account_slowdown (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    not_before  INTEGER NOT NULL,
    rounds      INTEGER NOT NULL DEFAULT 0
);
