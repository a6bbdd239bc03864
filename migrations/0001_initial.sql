-- switchboard schema v1: campaigns, their recipients as jobs, the attempts ledger, do-not-call
-- suppression and imports. Times are INTEGER milliseconds since the Unix epoch (UTC), so range
-- scans over the ledger are plain index range scans.

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
    spec_toml     TEXT NOT NULL,          -- the operator's file, as given
    spec_json     TEXT NOT NULL,          -- the validated spec, as the daemon reads it
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    paused_reason TEXT
);

CREATE TABLE imports (
    id           INTEGER PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    file_name    TEXT NOT NULL,
    file_sha256  TEXT NOT NULL,
    rows_read    INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,
    duplicates   INTEGER NOT NULL,
    suppressed   INTEGER NOT NULL,
    -- The file's columns other than the phone, in order: the names of its jobs' `variables`.
    columns      TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL
);
-- An import of bytes seen before is noticed (and said); it still runs, and changes nothing.
CREATE INDEX imports_file ON imports (campaign_id, file_sha256);

-- One row per recipient of a campaign. `state` follows the job state machine in DESIGN.md.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    import_id        INTEGER REFERENCES imports (id),
    phone            TEXT NOT NULL,                 -- E.164
    source_line      INTEGER,                       -- physical line in the imported file
    -- Every non-phone column: a JSON array of values named by its import's `columns` (a million
    -- rows do not repeat the names), or a JSON object of name → value for a job from elsewhere.
    variables        TEXT NOT NULL DEFAULT '{}',
    timezones        TEXT NOT NULL,                 -- effective zones, '|'-separated IANA names
    -- The hot tables' checks are written as ORs: SQLite evaluates `x IN (list)` in a CHECK by
    -- building a temporary b-tree of the list for every row written (a third of an import's
    -- insert time, measured).
    zone_source      TEXT NOT NULL CHECK (zone_source = 'column' OR zone_source = 'area_code' OR zone_source = 'default'),
    number_zones     TEXT,                          -- zones inferred from the number ('|'), if any
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state = 'queued' OR state = 'dialing' OR state = 'in_call' OR state = 'retry_wait'
                            OR state = 'done' OR state = 'failed' OR state = 'cancelled' OR state = 'suppressed'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,    -- due time; 0 = as soon as the window allows
    outcome          TEXT,                          -- last attempt's outcome
    reason           TEXT,                          -- why suppressed / failed
    updated_at       INTEGER NOT NULL
);
-- No UNIQUE (campaign_id, phone): an import dedupes against the campaign's numbers inside its
-- own write transaction (BEGIN IMMEDIATE, so no other writer can interleave), and the random
-- inserts into such an index were most of an import's cost (see BENCHMARKS.md).
-- The dispatcher claims due jobs, campaign by campaign (for fairness), through this index; it
-- also serves counts by state.
CREATE INDEX jobs_due ON jobs (campaign_id, state, next_attempt_at);

-- The attempts ledger: one row per call we dial (or are about to dial). Caps are counted here.
CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,               -- attempt UUID, also sent in call metadata
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone           TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'dialing'
                    CHECK (state = 'dialing' OR state = 'in_call' OR state = 'ended' OR state = 'failed'
                           OR state = 'not_sent'),
    call_id         TEXT UNIQUE,
    dialed_at       INTEGER NOT NULL,               -- committed as 'dialing' (before the POST)
    expires_at      INTEGER NOT NULL,               -- holds a concurrency slot until then at most
    sent_at         INTEGER,                        -- Bland accepted it (call_id known)
    poll_at         INTEGER,                        -- when the poller next asks Bland about it
    send_error      TEXT,                           -- last failed send, while unresolved
    ended_at        INTEGER,
    outcome         TEXT CHECK (outcome = 'human' OR outcome = 'voicemail' OR outcome = 'no_answer' OR outcome = 'busy'
                            OR outcome = 'failed' OR outcome = 'unknown'),
    answered_by     TEXT,
    call_length     REAL,
    price           REAL,
    call_ended_by   TEXT,
    error_message   TEXT,
    summary         TEXT,
    recording_url   TEXT,
    transcript      TEXT,
    analysis        TEXT,                           -- JSON
    details         TEXT                            -- raw call details JSON
);
-- One counted attempt per number; a send Bland certainly never took (429, 401, connection
-- refused) is voided as 'not_sent' and its number is used again.
CREATE UNIQUE INDEX attempts_job_no ON attempts (job_id, attempt_no) WHERE state != 'not_sent';
CREATE INDEX attempts_dialed ON attempts (dialed_at);
CREATE INDEX attempts_campaign_dialed ON attempts (campaign_id, dialed_at);
CREATE INDEX attempts_phone_dialed ON attempts (phone, dialed_at);
CREATE INDEX attempts_open ON attempts (state, expires_at, campaign_id) WHERE state IN ('dialing', 'in_call');
CREATE INDEX attempts_poll ON attempts (poll_at) WHERE poll_at IS NOT NULL;

-- Do-not-call: numbers never dialled, in any campaign.
CREATE TABLE dnc (
    phone     TEXT PRIMARY KEY,                     -- E.164
    reason    TEXT NOT NULL,
    added_at  INTEGER NOT NULL
);

-- Every webhook delivery, as received (after its signature was checked), and whether it could be
-- matched to an attempt. Applied in the same transaction it is stored in.
CREATE TABLE webhook_inbox (
    id           INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    call_id      TEXT,
    attempt_id   TEXT,
    body         TEXT NOT NULL,
    result       TEXT NOT NULL          -- applied | updated | duplicate | not_final | unmatched
);
CREATE INDEX webhook_inbox_call ON webhook_inbox (call_id);
