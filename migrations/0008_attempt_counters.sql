-- Attempts by campaign, state and outcome ('' for none yet), kept by triggers in the same
-- transactions that write attempts, so `campaign show`, `/metrics` and the dashboard count the
-- calls of a million-recipient campaign from a handful of rows (see 0006 for the jobs).
CREATE TABLE attempt_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, outcome)
) WITHOUT ROWID;

INSERT INTO attempt_counters (campaign_id, state, outcome, n)
    SELECT campaign_id, state, COALESCE(outcome, ''), COUNT(*) FROM attempts
    GROUP BY campaign_id, state, COALESCE(outcome, '');

CREATE TRIGGER attempt_counters_insert AFTER INSERT ON attempts
BEGIN
    INSERT INTO attempt_counters (campaign_id, state, outcome, n)
        VALUES (new.campaign_id, new.state, COALESCE(new.outcome, ''), 1)
        ON CONFLICT (campaign_id, state, outcome) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER attempt_counters_move AFTER UPDATE OF state, outcome ON attempts
    WHEN old.state IS NOT new.state OR old.outcome IS NOT new.outcome
BEGIN
    UPDATE attempt_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '');
    INSERT INTO attempt_counters (campaign_id, state, outcome, n)
        VALUES (new.campaign_id, new.state, COALESCE(new.outcome, ''), 1)
        ON CONFLICT (campaign_id, state, outcome) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER attempt_counters_delete AFTER DELETE ON attempts
BEGIN
    UPDATE attempt_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state AND outcome = COALESCE(old.outcome, '');
END;
