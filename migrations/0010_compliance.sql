-- The compliance engine's records.

-- A campaign's `[compliance] subject` (its id when it names none): the state frequency caps
-- count calls per number across every campaign with the same subject.
ALTER TABLE campaigns ADD COLUMN subject TEXT;
UPDATE campaigns SET subject = id WHERE subject IS NULL;

-- Which rule set allowed the call: `RuleSet::version` ("2026-12-01", or with the config's
-- overrides "2026-12-01+config.…"), or "informational" for a campaign the state rules do not
-- bind. The audit trail `export --attempts` carries.
ALTER TABLE attempts ADD COLUMN rules_version TEXT;

-- Emergency blackouts (`switchboard blackout add`): nobody in `region` (a two-letter code) or in
-- `zone` (an IANA name) is dialled in [starts_at, until). A removed one keeps its row.
CREATE TABLE blackouts (
    id         INTEGER PRIMARY KEY,
    region     TEXT,
    zone       TEXT,
    starts_at  INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    CHECK ((region IS NULL) != (zone IS NULL)),
    CHECK (until > starts_at)
);
CREATE INDEX blackouts_until ON blackouts (until) WHERE removed_at IS NULL;

-- The job counters (0006) keyed by regions too, so the queue's "waiting for a window" split and
-- the forecast apply each region's state rules without reading the jobs.
CREATE TABLE job_counters_by_region (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    timezones   TEXT NOT NULL,
    regions     TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, outcome, timezones, regions)
) WITHOUT ROWID;

INSERT INTO job_counters_by_region (campaign_id, state, outcome, timezones, regions, n)
    SELECT campaign_id, state, COALESCE(outcome, ''), timezones, regions, COUNT(*) FROM jobs
    GROUP BY campaign_id, state, COALESCE(outcome, ''), timezones, regions;

DROP TRIGGER job_counters_move;
DROP TRIGGER job_counters_delete;
DROP TABLE job_counters;
ALTER TABLE job_counters_by_region RENAME TO job_counters;

CREATE TRIGGER job_counters_move AFTER UPDATE OF state, outcome ON jobs
    WHEN old.state IS NOT new.state OR old.outcome IS NOT new.outcome
BEGIN
    UPDATE job_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '')
          AND timezones = old.timezones AND regions = old.regions;
    INSERT INTO job_counters (campaign_id, state, outcome, timezones, regions, n)
        VALUES (new.campaign_id, new.state, COALESCE(new.outcome, ''), new.timezones, new.regions, 1)
        ON CONFLICT (campaign_id, state, outcome, timezones, regions) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER job_counters_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '')
          AND timezones = old.timezones AND regions = old.regions;
END;
