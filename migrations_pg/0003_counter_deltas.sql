-- The report's and `campaign show`'s counters as deltas (PostgreSQL only; SQLite, one writer at a
-- time, keeps one row per key).
--
-- Until now each trigger took its counter rows in place: a job moved from `queued` to `dialing`
-- locked the `queued` row, then the `dialing` one; a deferral the other way round. With several
-- daemons, two transactions moving jobs of two zone sets (a claim, another daemon's deferral;
-- two claims; a webhook and a commit) took the same rows in opposite orders and PostgreSQL
-- aborted one of them as a deadlock, after a second's wait (hundreds in the multi-node
-- benchmark). Now every trigger only appends: one row of +1 for the new key and one of -1 for
-- the old, locking nothing another transaction waits on. A counter is the sum of its key's rows:
-- every reader groups by the key (src/store/report.rs, campaigns.rs, observe.rs, copy.rs), and
-- the leader folds each key's rows back into one (`fold_counters`, from the poller's round), so
-- the tables stay the size of their keys.
--
-- `delta` marks a row not folded yet; the fold finds the keys it must fold through the partial
-- index on it, so a round with nothing to fold reads nothing.

ALTER TABLE job_counters DROP CONSTRAINT job_counters_pkey;
ALTER TABLE job_counters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX job_counters_key ON job_counters (campaign_id, state, outcome, timezones, regions);
CREATE INDEX job_counters_delta ON job_counters (campaign_id) WHERE delta;

ALTER TABLE dial_counters DROP CONSTRAINT dial_counters_pkey;
ALTER TABLE dial_counters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX dial_counters_key ON dial_counters (campaign_id, attempt_no, state, outcome, bucket);
CREATE INDEX dial_counters_delta ON dial_counters (campaign_id) WHERE delta;

ALTER TABLE dial_quarters DROP CONSTRAINT dial_quarters_pkey;
ALTER TABLE dial_quarters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX dial_quarters_key ON dial_quarters (campaign_id, timezones, regions, quarter, outcome);
CREATE INDEX dial_quarters_delta ON dial_quarters (campaign_id) WHERE delta;

ALTER TABLE recipient_counters DROP CONSTRAINT recipient_counters_pkey;
ALTER TABLE recipient_counters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX recipient_counters_key ON recipient_counters (campaign_id, dials, human);
CREATE INDEX recipient_counters_delta ON recipient_counters (campaign_id) WHERE delta;

ALTER TABLE failure_counters DROP CONSTRAINT failure_counters_pkey;
ALTER TABLE failure_counters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX failure_counters_key ON failure_counters (campaign_id, reason);
CREATE INDEX failure_counters_delta ON failure_counters (campaign_id) WHERE delta;

ALTER TABLE answer_counters DROP CONSTRAINT answer_counters_pkey;
ALTER TABLE answer_counters ADD COLUMN delta BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX answer_counters_key ON answer_counters (campaign_id, source, field, kind, value);
CREATE INDEX answer_counters_delta ON answer_counters (campaign_id) WHERE delta;

-- ---------------------------------------------------------------------------------------------
-- Triggers on jobs (the same triggers as 0001; only their functions change)
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION job_counters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counters (campaign_id, state, outcome, timezones, regions, n) VALUES
        (OLD.campaign_id, OLD.state, COALESCE(OLD.outcome, ''), OLD.timezones, OLD.regions, -1),
        (NEW.campaign_id, NEW.state, COALESCE(NEW.outcome, ''), NEW.timezones, NEW.regions, 1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION job_counters_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counters (campaign_id, state, outcome, timezones, regions, n)
        VALUES (OLD.campaign_id, OLD.state, COALESCE(OLD.outcome, ''), OLD.timezones, OLD.regions, -1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION recipient_counters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.attempts > 0 THEN
        INSERT INTO recipient_counters (campaign_id, dials, human, n)
            VALUES (OLD.campaign_id, OLD.attempts, (OLD.outcome IS NOT DISTINCT FROM 'human')::integer, -1);
    END IF;
    IF NEW.attempts > 0 THEN
        INSERT INTO recipient_counters (campaign_id, dials, human, n)
            VALUES (NEW.campaign_id, NEW.attempts, (NEW.outcome IS NOT DISTINCT FROM 'human')::integer, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION recipient_counters_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recipient_counters (campaign_id, dials, human, n)
        VALUES (OLD.campaign_id, OLD.attempts, (OLD.outcome IS NOT DISTINCT FROM 'human')::integer, -1);
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Triggers on attempts
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION dial_counters_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend)
        VALUES (NEW.campaign_id, NEW.attempt_no, NEW.state, COALESCE(NEW.outcome, ''),
                dial_counters_bucket(NEW.call_length), 1, COALESCE(NEW.call_length, 0), COALESCE(NEW.price, 0),
                dial_counters_spend(NEW.state, NEW.price, NEW.reserved_usd));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dial_counters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend) VALUES
        (OLD.campaign_id, OLD.attempt_no, OLD.state, COALESCE(OLD.outcome, ''),
         dial_counters_bucket(OLD.call_length), -1, -COALESCE(OLD.call_length, 0), -COALESCE(OLD.price, 0),
         -dial_counters_spend(OLD.state, OLD.price, OLD.reserved_usd)),
        (NEW.campaign_id, NEW.attempt_no, NEW.state, COALESCE(NEW.outcome, ''),
         dial_counters_bucket(NEW.call_length), 1, COALESCE(NEW.call_length, 0), COALESCE(NEW.price, 0),
         dial_counters_spend(NEW.state, NEW.price, NEW.reserved_usd));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dial_counters_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend)
        VALUES (OLD.campaign_id, OLD.attempt_no, OLD.state, COALESCE(OLD.outcome, ''),
                dial_counters_bucket(OLD.call_length), -1, -COALESCE(OLD.call_length, 0), -COALESCE(OLD.price, 0),
                -dial_counters_spend(OLD.state, OLD.price, OLD.reserved_usd));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dial_quarters_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
        SELECT NEW.campaign_id, j.timezones, j.regions, NEW.dialed_at - (NEW.dialed_at % 900000), NEW.outcome, 1
        FROM jobs j WHERE j.id = NEW.job_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dial_quarters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state != 'not_sent' AND OLD.outcome IS NOT NULL THEN
        INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
            SELECT OLD.campaign_id, j.timezones, j.regions, OLD.dialed_at - (OLD.dialed_at % 900000), OLD.outcome, -1
            FROM jobs j WHERE j.id = OLD.job_id;
    END IF;
    IF NEW.state != 'not_sent' AND NEW.outcome IS NOT NULL THEN
        INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
            SELECT NEW.campaign_id, j.timezones, j.regions, NEW.dialed_at - (NEW.dialed_at % 900000), NEW.outcome, 1
            FROM jobs j WHERE j.id = NEW.job_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dial_quarters_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n)
        SELECT OLD.campaign_id, j.timezones, j.regions, OLD.dialed_at - (OLD.dialed_at % 900000), OLD.outcome, -1
        FROM jobs j WHERE j.id = OLD.job_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION failure_counters_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO failure_counters (campaign_id, reason, n)
        VALUES (NEW.campaign_id, failure_counters_reason(NEW.error_message, NEW.send_error, NEW.call_ended_by), 1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION failure_counters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state != 'not_sent' AND OLD.outcome IS NOT DISTINCT FROM 'failed' THEN
        INSERT INTO failure_counters (campaign_id, reason, n)
            VALUES (OLD.campaign_id, failure_counters_reason(OLD.error_message, OLD.send_error, OLD.call_ended_by), -1);
    END IF;
    IF NEW.state != 'not_sent' AND NEW.outcome IS NOT DISTINCT FROM 'failed' THEN
        INSERT INTO failure_counters (campaign_id, reason, n)
            VALUES (NEW.campaign_id, failure_counters_reason(NEW.error_message, NEW.send_error, NEW.call_ended_by), 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION failure_counters_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO failure_counters (campaign_id, reason, n)
        VALUES (OLD.campaign_id, failure_counters_reason(OLD.error_message, OLD.send_error, OLD.call_ended_by), -1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION answer_counters_attempt_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF sqlite_json_type_if_valid(NEW.analysis) = 'object' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT NEW.campaign_id, 'schema', m.key, m.kind, m.value, count(*)
            FROM sqlite_json_object_members(NEW.analysis) AS m
            GROUP BY m.key, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION answer_counters_attempt_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state != 'not_sent' AND OLD.outcome IS NOT DISTINCT FROM 'human'
       AND sqlite_json_type_if_valid(OLD.analysis) = 'object' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT OLD.campaign_id, 'schema', m.key, m.kind, m.value, -count(*)
            FROM sqlite_json_object_members(OLD.analysis) AS m
            GROUP BY m.key, m.kind, m.value;
    END IF;
    IF NEW.state != 'not_sent' AND NEW.outcome IS NOT DISTINCT FROM 'human'
       AND sqlite_json_type_if_valid(NEW.analysis) = 'object' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT NEW.campaign_id, 'schema', m.key, m.kind, m.value, count(*)
            FROM sqlite_json_object_members(NEW.analysis) AS m
            GROUP BY m.key, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION answer_counters_attempt_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF sqlite_json_type_if_valid(OLD.analysis) = 'object' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT OLD.campaign_id, 'schema', m.key, m.kind, m.value, -count(*)
            FROM sqlite_json_object_members(OLD.analysis) AS m
            GROUP BY m.key, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Triggers on call_analyses
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION answer_counters_question_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF sqlite_json_type_if_valid(NEW.answers) = 'array' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT NEW.campaign_id, 'question', m.field, m.kind, m.value, count(*)
            FROM (SELECT sqlite_json_question(NEW.questions, a.idx) AS field, a.kind, a.value
                  FROM sqlite_json_array_members(NEW.answers) AS a) AS m
            GROUP BY m.field, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION answer_counters_question_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'done' AND sqlite_json_type_if_valid(OLD.answers) = 'array' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT OLD.campaign_id, 'question', m.field, m.kind, m.value, -count(*)
            FROM (SELECT sqlite_json_question(OLD.questions, a.idx) AS field, a.kind, a.value
                  FROM sqlite_json_array_members(OLD.answers) AS a) AS m
            GROUP BY m.field, m.kind, m.value;
    END IF;
    IF NEW.state = 'done' AND sqlite_json_type_if_valid(NEW.answers) = 'array' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT NEW.campaign_id, 'question', m.field, m.kind, m.value, count(*)
            FROM (SELECT sqlite_json_question(NEW.questions, a.idx) AS field, a.kind, a.value
                  FROM sqlite_json_array_members(NEW.answers) AS a) AS m
            GROUP BY m.field, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION answer_counters_question_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF sqlite_json_type_if_valid(OLD.answers) = 'array' THEN
        INSERT INTO answer_counters (campaign_id, source, field, kind, value, n)
            SELECT OLD.campaign_id, 'question', m.field, m.kind, m.value, -count(*)
            FROM (SELECT sqlite_json_question(OLD.questions, a.idx) AS field, a.kind, a.value
                  FROM sqlite_json_array_members(OLD.answers) AS a) AS m
            GROUP BY m.field, m.kind, m.value;
    END IF;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The fold: every key with rows not folded yet becomes one row again (none if it sums to no
-- rows counted). A concurrent trigger's new row is not in this statement's snapshot and stays
-- for the next fold; a second fold running at once skips the rows the first deleted. Only the
-- leader runs it, from the poller's round.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION fold_counters() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH keys AS (SELECT DISTINCT campaign_id, state, outcome, timezones, regions FROM job_counters WHERE delta),
    gone AS (
        DELETE FROM job_counters c USING keys k
        WHERE (c.campaign_id, c.state, c.outcome, c.timezones, c.regions)
            = (k.campaign_id, k.state, k.outcome, k.timezones, k.regions)
        RETURNING c.*)
    INSERT INTO job_counters (campaign_id, state, outcome, timezones, regions, n, delta)
        SELECT campaign_id, state, outcome, timezones, regions, SUM(n), false FROM gone
        GROUP BY campaign_id, state, outcome, timezones, regions HAVING SUM(n) <> 0;

    WITH keys AS (SELECT DISTINCT campaign_id, attempt_no, state, outcome, bucket FROM dial_counters WHERE delta),
    gone AS (
        DELETE FROM dial_counters c USING keys k
        WHERE (c.campaign_id, c.attempt_no, c.state, c.outcome, c.bucket)
            = (k.campaign_id, k.attempt_no, k.state, k.outcome, k.bucket)
        RETURNING c.*)
    INSERT INTO dial_counters (campaign_id, attempt_no, state, outcome, bucket, n, minutes, cost, spend, delta)
        SELECT campaign_id, attempt_no, state, outcome, bucket, SUM(n), SUM(minutes), SUM(cost), SUM(spend), false
        FROM gone
        GROUP BY campaign_id, attempt_no, state, outcome, bucket HAVING SUM(n) <> 0;

    WITH keys AS (SELECT DISTINCT campaign_id, timezones, regions, quarter, outcome FROM dial_quarters WHERE delta),
    gone AS (
        DELETE FROM dial_quarters c USING keys k
        WHERE (c.campaign_id, c.timezones, c.regions, c.quarter, c.outcome)
            = (k.campaign_id, k.timezones, k.regions, k.quarter, k.outcome)
        RETURNING c.*)
    INSERT INTO dial_quarters (campaign_id, timezones, regions, quarter, outcome, n, delta)
        SELECT campaign_id, timezones, regions, quarter, outcome, SUM(n), false FROM gone
        GROUP BY campaign_id, timezones, regions, quarter, outcome HAVING SUM(n) <> 0;

    WITH keys AS (SELECT DISTINCT campaign_id, dials, human FROM recipient_counters WHERE delta),
    gone AS (
        DELETE FROM recipient_counters c USING keys k
        WHERE (c.campaign_id, c.dials, c.human) = (k.campaign_id, k.dials, k.human)
        RETURNING c.*)
    INSERT INTO recipient_counters (campaign_id, dials, human, n, delta)
        SELECT campaign_id, dials, human, SUM(n), false FROM gone
        GROUP BY campaign_id, dials, human HAVING SUM(n) <> 0;

    WITH keys AS (SELECT DISTINCT campaign_id, reason FROM failure_counters WHERE delta),
    gone AS (
        DELETE FROM failure_counters c USING keys k
        WHERE (c.campaign_id, c.reason) = (k.campaign_id, k.reason)
        RETURNING c.*)
    INSERT INTO failure_counters (campaign_id, reason, n, delta)
        SELECT campaign_id, reason, SUM(n), false FROM gone
        GROUP BY campaign_id, reason HAVING SUM(n) <> 0;

    WITH keys AS (SELECT DISTINCT campaign_id, source, field, kind, value FROM answer_counters WHERE delta),
    gone AS (
        DELETE FROM answer_counters c USING keys k
        WHERE (c.campaign_id, c.source, c.field, c.kind, c.value) = (k.campaign_id, k.source, k.field, k.kind, k.value)
        RETURNING c.*)
    INSERT INTO answer_counters (campaign_id, source, field, kind, value, n, delta)
        SELECT campaign_id, source, field, kind, value, SUM(n), false FROM gone
        GROUP BY campaign_id, source, field, kind, value HAVING SUM(n) <> 0;
END
$$;
