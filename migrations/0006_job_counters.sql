-- Jobs by campaign, state, last outcome and time zones, kept by the same transactions that move
-- jobs, so `campaign show`, `/metrics`, the report and the dashboard read a handful of rows
-- instead of counting a million (the zones give "why is it not dialling": queued jobs by zone).
-- `outcome` is '' for none (a primary key cannot hold NULL usefully).
--
-- State and outcome changes and deletions are counted by triggers (no code path can forget
-- them); a new job is counted by its import, in the import's own transaction, for the whole
-- file at once (a trigger per inserted row cost a million-row import far more).
CREATE TABLE job_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    timezones   TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, outcome, timezones)
) WITHOUT ROWID;

INSERT INTO job_counters (campaign_id, state, outcome, timezones, n)
    SELECT campaign_id, state, COALESCE(outcome, ''), timezones, COUNT(*) FROM jobs
    GROUP BY campaign_id, state, COALESCE(outcome, ''), timezones;

CREATE TRIGGER job_counters_move AFTER UPDATE OF state, outcome ON jobs
    WHEN old.state IS NOT new.state OR old.outcome IS NOT new.outcome
BEGIN
    UPDATE job_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '')
          AND timezones = old.timezones;
    INSERT INTO job_counters (campaign_id, state, outcome, timezones, n)
        VALUES (new.campaign_id, new.state, COALESCE(new.outcome, ''), new.timezones, 1)
        ON CONFLICT (campaign_id, state, outcome, timezones) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER job_counters_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '')
          AND timezones = old.timezones;
END;
