-- Answers to a campaign's [analysis] questions, from POST /v1/calls/{id}/analyze: one row per
-- (attempt, question set). The unique key is what makes "never analysed twice for the same
-- call and questions" hold across restarts; the row is written `pending` before the request is
-- made, so a restart resumes it instead of forgetting it.
CREATE TABLE call_analyses (
    id            INTEGER PRIMARY KEY,
    attempt_id    TEXT NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
    campaign_id   TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    call_id       TEXT NOT NULL,
    question_set  TEXT NOT NULL,    -- hex SHA-256 of the canonical JSON {"goal": …, "questions": …}
    goal          TEXT NOT NULL,
    questions     TEXT NOT NULL,    -- JSON [[question, type], …], in the order asked
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state = 'pending' OR state = 'done' OR state = 'failed'),
    answers       TEXT,             -- JSON array, one per question (null: unanswerable)
    price         REAL,             -- USD, as Bland returned it
    error         TEXT,             -- last failure, while retried or for good
    tries         INTEGER NOT NULL DEFAULT 0,
    next_try_at   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (attempt_id, question_set)
);
CREATE INDEX call_analyses_due ON call_analyses (next_try_at) WHERE state = 'pending';
CREATE INDEX call_analyses_campaign ON call_analyses (campaign_id, state);
