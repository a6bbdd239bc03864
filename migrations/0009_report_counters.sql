-- The campaign report's figures, kept by triggers in the same transactions that write attempts,
-- jobs and analyses (as 0006/0008 keep the job and call counters), so `report` on a campaign of
-- a million recipients reads a few hundred rows instead of grouping two million attempts five
-- times. `report --since/--until` still scans (a period is not known in advance), and a test
-- checks that both ways give the same report (tests/report.rs).
--
-- Every table counts what src/store/report.rs's scans count: attempts that reached Bland
-- (`state != 'not_sent'`), and for the answers only calls that reached a human.

-- The recipient's regions (US states, territories, Canadian provinces): the CSV `state` column's
-- and the area code's, '|'-separated two-letter codes ('' when none is known). The compliance
-- engine applies every one's rules; the report breaks dials down by them.
ALTER TABLE jobs ADD COLUMN regions TEXT NOT NULL DEFAULT '';

-- What a dial holds against the spend limits until Bland reports its price: the worst case
-- (the minimum charge plus max_duration at the per-minute price), set when it is claimed.
ALTER TABLE attempts ADD COLUMN reserved_usd REAL;

-- Dials by attempt number, state, outcome ('' for none yet) and length bucket, with their
-- minutes, cost (the prices Bland reported) and spend (what the spend limits count: the price
-- when known, else the reservation, except for sends Bland refused, which cost nothing). It replaces 0008's attempt_counters (campaign, state, outcome), which is this
-- table summed over attempt number and bucket: one set of triggers per attempt write, not two.
-- The bucket is LengthBucket::of (src/store/report.rs), written once here as SQL.
CREATE TABLE dial_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    attempt_no  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    minutes     REAL NOT NULL,
    cost        REAL NOT NULL,
    spend       REAL NOT NULL,
    PRIMARY KEY (campaign_id, attempt_no, state, outcome, bucket)
) WITHOUT ROWID;

INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend)
    SELECT campaign_id, attempt_no, state, COALESCE(outcome, ''),
           CASE WHEN call_length IS NULL THEN 0 WHEN call_length <= 0 THEN 1 WHEN call_length < 0.5 THEN 2
                WHEN call_length < 1 THEN 3 WHEN call_length < 2 THEN 4 WHEN call_length < 5 THEN 5
                WHEN call_length < 10 THEN 6 ELSE 7 END AS bucket,
           COUNT(*), TOTAL(call_length), TOTAL(price), TOTAL(price)
    FROM attempts GROUP BY campaign_id, attempt_no, state, COALESCE(outcome, ''), bucket;

DROP TRIGGER attempt_counters_insert;
DROP TRIGGER attempt_counters_move;
DROP TRIGGER attempt_counters_delete;
DROP TABLE attempt_counters;

CREATE TRIGGER dial_counters_insert AFTER INSERT ON attempts
BEGIN
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend)
        VALUES (new.campaign_id, new.attempt_no, new.state, COALESCE(new.outcome, ''),
                CASE WHEN new.call_length IS NULL THEN 0 WHEN new.call_length <= 0 THEN 1
                     WHEN new.call_length < 0.5 THEN 2 WHEN new.call_length < 1 THEN 3
                     WHEN new.call_length < 2 THEN 4 WHEN new.call_length < 5 THEN 5
                     WHEN new.call_length < 10 THEN 6 ELSE 7 END,
                1, COALESCE(new.call_length, 0), COALESCE(new.price, 0),
                COALESCE(new.price, CASE WHEN new.state = 'failed' THEN 0 ELSE COALESCE(new.reserved_usd, 0) END))
        ON CONFLICT (campaign_id, attempt_no, state, outcome, bucket) DO UPDATE
            SET n = n + 1, minutes = minutes + excluded.minutes, cost = cost + excluded.cost,
                spend = spend + excluded.spend;
END;

CREATE TRIGGER dial_counters_move AFTER UPDATE OF state, outcome, call_length, price, reserved_usd ON attempts
    WHEN old.state IS NOT new.state OR old.outcome IS NOT new.outcome
      OR old.call_length IS NOT new.call_length OR old.price IS NOT new.price
      OR old.reserved_usd IS NOT new.reserved_usd
BEGIN
    UPDATE dial_counters
        SET n = n - 1, minutes = minutes - COALESCE(old.call_length, 0), cost = cost - COALESCE(old.price, 0),
            spend = spend - COALESCE(old.price, CASE WHEN old.state = 'failed' THEN 0 ELSE COALESCE(old.reserved_usd, 0) END)
        WHERE campaign_id = old.campaign_id AND attempt_no = old.attempt_no AND state = old.state
          AND outcome = COALESCE(old.outcome, '')
          AND bucket = CASE WHEN old.call_length IS NULL THEN 0 WHEN old.call_length <= 0 THEN 1
                            WHEN old.call_length < 0.5 THEN 2 WHEN old.call_length < 1 THEN 3
                            WHEN old.call_length < 2 THEN 4 WHEN old.call_length < 5 THEN 5
                            WHEN old.call_length < 10 THEN 6 ELSE 7 END;
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend)
        VALUES (new.campaign_id, new.attempt_no, new.state, COALESCE(new.outcome, ''),
                CASE WHEN new.call_length IS NULL THEN 0 WHEN new.call_length <= 0 THEN 1
                     WHEN new.call_length < 0.5 THEN 2 WHEN new.call_length < 1 THEN 3
                     WHEN new.call_length < 2 THEN 4 WHEN new.call_length < 5 THEN 5
                     WHEN new.call_length < 10 THEN 6 ELSE 7 END,
                1, COALESCE(new.call_length, 0), COALESCE(new.price, 0),
                COALESCE(new.price, CASE WHEN new.state = 'failed' THEN 0 ELSE COALESCE(new.reserved_usd, 0) END))
        ON CONFLICT (campaign_id, attempt_no, state, outcome, bucket) DO UPDATE
            SET n = n + 1, minutes = minutes + excluded.minutes, cost = cost + excluded.cost,
                spend = spend + excluded.spend;
END;

CREATE TRIGGER dial_counters_delete AFTER DELETE ON attempts
BEGIN
    UPDATE dial_counters
        SET n = n - 1, minutes = minutes - COALESCE(old.call_length, 0), cost = cost - COALESCE(old.price, 0),
            spend = spend - COALESCE(old.price, CASE WHEN old.state = 'failed' THEN 0 ELSE COALESCE(old.reserved_usd, 0) END)
        WHERE campaign_id = old.campaign_id AND attempt_no = old.attempt_no AND state = old.state
          AND outcome = COALESCE(old.outcome, '')
          AND bucket = CASE WHEN old.call_length IS NULL THEN 0 WHEN old.call_length <= 0 THEN 1
                            WHEN old.call_length < 0.5 THEN 2 WHEN old.call_length < 1 THEN 3
                            WHEN old.call_length < 2 THEN 4 WHEN old.call_length < 5 THEN 5
                            WHEN old.call_length < 10 THEN 6 ELSE 7 END;
END;

-- Calls with an outcome by the recipient's zones and regions (the job's, which never change
-- after import), the UTC quarter hour they were dialled in and the outcome: `report` turns each
-- quarter into the recipient's local hour (every zone offset is a whole number of quarter hours)
-- and sums the rest by zone and by region. Calls still in progress are not counted here (they
-- have no outcome to break down), so a claim costs nothing and an outcome one upsert.
CREATE TABLE dial_quarters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    timezones   TEXT NOT NULL,
    regions     TEXT NOT NULL,
    quarter     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, timezones, regions, quarter, outcome)
) WITHOUT ROWID;

INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
    SELECT a.campaign_id, j.timezones, j.regions, a.dialed_at - (a.dialed_at % 900000), a.outcome, COUNT(*)
    FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.state != 'not_sent' AND a.outcome IS NOT NULL
    GROUP BY a.campaign_id, j.timezones, j.regions, a.dialed_at - (a.dialed_at % 900000), a.outcome;

CREATE TRIGGER dial_quarters_insert AFTER INSERT ON attempts
    WHEN new.state != 'not_sent' AND new.outcome IS NOT NULL
BEGIN
    INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
        SELECT new.campaign_id, j.timezones, j.regions, new.dialed_at - (new.dialed_at % 900000), new.outcome, 1
        FROM jobs j WHERE j.id = new.job_id
        ON CONFLICT (campaign_id, timezones, regions, quarter, outcome) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER dial_quarters_move AFTER UPDATE OF state, outcome, dialed_at ON attempts
    WHEN ((old.state != 'not_sent' AND old.outcome IS NOT NULL) OR (new.state != 'not_sent' AND new.outcome IS NOT NULL))
     AND (old.state IS NOT new.state OR old.outcome IS NOT new.outcome OR old.dialed_at IS NOT new.dialed_at)
BEGIN
    UPDATE dial_quarters SET n = n - 1
        WHERE old.state != 'not_sent' AND old.outcome IS NOT NULL AND campaign_id = old.campaign_id
          AND (timezones, regions) = (SELECT timezones, regions FROM jobs WHERE id = old.job_id)
          AND quarter = old.dialed_at - (old.dialed_at % 900000) AND outcome = old.outcome;
    INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
        SELECT new.campaign_id, j.timezones, j.regions, new.dialed_at - (new.dialed_at % 900000), new.outcome, 1
        FROM jobs j WHERE j.id = new.job_id AND new.state != 'not_sent' AND new.outcome IS NOT NULL
        ON CONFLICT (campaign_id, timezones, regions, quarter, outcome) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER dial_quarters_delete AFTER DELETE ON attempts
    WHEN old.state != 'not_sent' AND old.outcome IS NOT NULL
BEGIN
    UPDATE dial_quarters SET n = n - 1
        WHERE campaign_id = old.campaign_id
          AND (timezones, regions) = (SELECT timezones, regions FROM jobs WHERE id = old.job_id)
          AND quarter = old.dialed_at - (old.dialed_at % 900000) AND outcome = old.outcome;
END;

-- Recipients by how many calls reached Bland (`jobs.attempts`: a claim adds one, a send proven
-- never placed takes it back) and whether one reached a human (a human answer ends a job, so
-- its outcome stays `human`). Only recipients dialled at least once are counted. Jobs are
-- inserted with no attempts (the import), so no insert trigger is needed.
CREATE TABLE recipient_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    dials       INTEGER NOT NULL,
    human       INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, dials, human)
) WITHOUT ROWID;

INSERT INTO recipient_counters (campaign_id, dials, human, n)
    SELECT campaign_id, attempts, outcome IS 'human', COUNT(*) FROM jobs WHERE attempts > 0
    GROUP BY campaign_id, attempts, outcome IS 'human';

CREATE TRIGGER recipient_counters_move AFTER UPDATE OF attempts, outcome ON jobs
    WHEN old.attempts IS NOT new.attempts OR (old.outcome IS 'human') IS NOT (new.outcome IS 'human')
BEGIN
    UPDATE recipient_counters SET n = n - 1
        WHERE old.attempts > 0 AND campaign_id = old.campaign_id AND dials = old.attempts
          AND human = (old.outcome IS 'human');
    INSERT INTO recipient_counters (campaign_id, dials, human, n)
        SELECT new.campaign_id, new.attempts, new.outcome IS 'human', 1 WHERE new.attempts > 0
        ON CONFLICT (campaign_id, dials, human) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER recipient_counters_delete AFTER DELETE ON jobs WHEN old.attempts > 0
BEGIN
    UPDATE recipient_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id AND dials = old.attempts AND human = (old.outcome IS 'human');
END;

-- Failed calls by reason: Bland's error message, else the send error, else who ended the call.
CREATE TABLE failure_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, reason)
) WITHOUT ROWID;

INSERT INTO failure_counters (campaign_id, reason, n)
    SELECT campaign_id,
           COALESCE(NULLIF(error_message, ''), NULLIF(send_error, ''), NULLIF(call_ended_by, ''), '(no reason given)'),
           COUNT(*)
    FROM attempts WHERE state != 'not_sent' AND outcome = 'failed'
    GROUP BY 1, 2;

CREATE TRIGGER failure_counters_insert AFTER INSERT ON attempts
    WHEN new.state != 'not_sent' AND new.outcome IS 'failed'
BEGIN
    INSERT INTO failure_counters (campaign_id, reason, n)
        VALUES (new.campaign_id,
                COALESCE(NULLIF(new.error_message, ''), NULLIF(new.send_error, ''), NULLIF(new.call_ended_by, ''),
                         '(no reason given)'), 1)
        ON CONFLICT (campaign_id, reason) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER failure_counters_move
    AFTER UPDATE OF state, outcome, error_message, send_error, call_ended_by ON attempts
    WHEN (old.state != 'not_sent' AND old.outcome IS 'failed') OR (new.state != 'not_sent' AND new.outcome IS 'failed')
BEGIN
    UPDATE failure_counters SET n = n - 1
        WHERE old.state != 'not_sent' AND old.outcome IS 'failed' AND campaign_id = old.campaign_id
          AND reason = COALESCE(NULLIF(old.error_message, ''), NULLIF(old.send_error, ''),
                                NULLIF(old.call_ended_by, ''), '(no reason given)');
    INSERT INTO failure_counters (campaign_id, reason, n)
        SELECT new.campaign_id,
               COALESCE(NULLIF(new.error_message, ''), NULLIF(new.send_error, ''), NULLIF(new.call_ended_by, ''),
                        '(no reason given)'), 1
        WHERE new.state != 'not_sent' AND new.outcome IS 'failed'
        ON CONFLICT (campaign_id, reason) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER failure_counters_delete AFTER DELETE ON attempts
    WHEN old.state != 'not_sent' AND old.outcome IS 'failed'
BEGIN
    UPDATE failure_counters SET n = n - 1
        WHERE campaign_id = old.campaign_id
          AND reason = COALESCE(NULLIF(old.error_message, ''), NULLIF(old.send_error, ''),
                                NULLIF(old.call_ended_by, ''), '(no reason given)');
END;

-- Answers by source ('schema': the call's `analysis_schema` answers in attempts.analysis, for
-- calls that reached a human; 'question': `[analysis]` answers, call_analyses done), field
-- (the schema key, or the question's text), JSON type and value: the value itself for text and
-- numbers (so `report` finds each field's most frequent texts and exact min/max even after a
-- value is taken back), '' for other types.
CREATE TABLE answer_counters (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    field       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       NOT NULL,           -- no declared type: a text "5" stays text
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, source, field, kind, value)
) WITHOUT ROWID;

INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
    SELECT a.campaign_id, 'schema', je.key, je.type,
           CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, COUNT(*)
    FROM attempts a, json_each(a.analysis) je
    WHERE a.state != 'not_sent' AND a.outcome = 'human' AND json_valid(a.analysis) AND json_type(a.analysis) = 'object'
    GROUP BY 1, 2, 3, 4, 5;

INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
    SELECT c.campaign_id, 'question', COALESCE(json_extract(c.questions, '$[' || je.key || '][0]'), ''), je.type,
           CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, COUNT(*)
    FROM call_analyses c, json_each(c.answers) je
    WHERE c.state = 'done' AND json_valid(c.answers) AND json_type(c.answers) = 'array'
    GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER answer_counters_attempt_insert AFTER INSERT ON attempts
    WHEN new.state != 'not_sent' AND new.outcome IS 'human' AND json_valid(new.analysis)
     AND json_type(new.analysis) = 'object'
BEGIN
    INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
        SELECT new.campaign_id, 'schema', je.key, je.type,
               CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, 1
        FROM json_each(new.analysis) je WHERE true
        ON CONFLICT (campaign_id, source, field, kind, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER answer_counters_attempt_move AFTER UPDATE OF state, outcome, analysis ON attempts
    WHEN ((old.state = 'not_sent') IS NOT (new.state = 'not_sent') OR old.outcome IS NOT new.outcome
          OR old.analysis IS NOT new.analysis)
     AND ((old.state != 'not_sent' AND old.outcome IS 'human') OR (new.state != 'not_sent' AND new.outcome IS 'human'))
BEGIN
    UPDATE answer_counters
        SET n = n - (SELECT COUNT(*) FROM json_each(old.analysis) je
                     WHERE je.key = answer_counters.field AND je.type = answer_counters.kind
                       AND (CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END)
                           = answer_counters.value)
        WHERE old.state != 'not_sent' AND old.outcome IS 'human' AND json_valid(old.analysis)
          AND json_type(old.analysis) = 'object' AND campaign_id = old.campaign_id AND source = 'schema'
          AND field IN (SELECT key FROM json_each(old.analysis));
    INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
        SELECT new.campaign_id, 'schema', je.key, je.type,
               CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, 1
        FROM json_each(CASE WHEN new.state != 'not_sent' AND new.outcome IS 'human' AND json_valid(new.analysis)
                                 AND json_type(new.analysis) = 'object' THEN new.analysis END) je
        WHERE true
        ON CONFLICT (campaign_id, source, field, kind, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER answer_counters_attempt_delete AFTER DELETE ON attempts
    WHEN old.state != 'not_sent' AND old.outcome IS 'human' AND json_valid(old.analysis)
     AND json_type(old.analysis) = 'object'
BEGIN
    UPDATE answer_counters
        SET n = n - (SELECT COUNT(*) FROM json_each(old.analysis) je
                     WHERE je.key = answer_counters.field AND je.type = answer_counters.kind
                       AND (CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END)
                           = answer_counters.value)
        WHERE campaign_id = old.campaign_id AND source = 'schema' AND field IN (SELECT key FROM json_each(old.analysis));
END;

CREATE TRIGGER answer_counters_question_insert AFTER INSERT ON call_analyses
    WHEN new.state = 'done' AND json_valid(new.answers) AND json_type(new.answers) = 'array'
BEGIN
    INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
        SELECT new.campaign_id, 'question', COALESCE(json_extract(new.questions, '$[' || je.key || '][0]'), ''),
               je.type, CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, 1
        FROM json_each(new.answers) je WHERE true
        ON CONFLICT (campaign_id, source, field, kind, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER answer_counters_question_move AFTER UPDATE OF state, answers, questions ON call_analyses
    WHEN (old.state IS NOT new.state OR old.answers IS NOT new.answers OR old.questions IS NOT new.questions)
     AND (old.state = 'done' OR new.state = 'done')
BEGIN
    UPDATE answer_counters
        SET n = n - (SELECT COUNT(*) FROM json_each(old.answers) je
                     WHERE COALESCE(json_extract(old.questions, '$[' || je.key || '][0]'), '') = answer_counters.field
                       AND je.type = answer_counters.kind
                       AND (CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END)
                           = answer_counters.value)
        WHERE old.state = 'done' AND json_valid(old.answers) AND json_type(old.answers) = 'array'
          AND campaign_id = old.campaign_id AND source = 'question';
    INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
        SELECT new.campaign_id, 'question', COALESCE(json_extract(new.questions, '$[' || je.key || '][0]'), ''),
               je.type, CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END, 1
        FROM json_each(CASE WHEN new.state = 'done' AND json_valid(new.answers) AND json_type(new.answers) = 'array'
                            THEN new.answers END) je
        WHERE true
        ON CONFLICT (campaign_id, source, field, kind, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER answer_counters_question_delete AFTER DELETE ON call_analyses
    WHEN old.state = 'done' AND json_valid(old.answers) AND json_type(old.answers) = 'array'
BEGIN
    UPDATE answer_counters
        SET n = n - (SELECT COUNT(*) FROM json_each(old.answers) je
                     WHERE COALESCE(json_extract(old.questions, '$[' || je.key || '][0]'), '') = answer_counters.field
                       AND je.type = answer_counters.kind
                       AND (CASE WHEN je.type IN ('text', 'integer', 'real') THEN je.value ELSE '' END)
                           = answer_counters.value)
        WHERE campaign_id = old.campaign_id AND source = 'question';
END;
