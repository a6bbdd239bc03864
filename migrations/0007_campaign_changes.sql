-- Every change of a campaign's spec made by `campaign update` (CLI or API): who made it, when,
-- in which state the campaign was, and what changed. Written in the same transaction as the new
-- spec, so no change goes unrecorded and no record names a change that did not happen.
CREATE TABLE campaign_changes (
    id           INTEGER PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    changed_at   INTEGER NOT NULL,
    -- `alice@host` (the CLI's $USER and host), `cli` when unknown, `api (token sha256:…)`.
    actor        TEXT NOT NULL,
    state        TEXT NOT NULL,
    -- JSON array of {"key": "limits.calls_per_minute", "old": 30, "new": 10}; null for a key
    -- the spec did not set.
    changes      TEXT NOT NULL
);
CREATE INDEX campaign_changes_campaign ON campaign_changes (campaign_id, changed_at);
