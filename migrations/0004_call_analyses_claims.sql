-- Claims and spend for the [analysis] worker (src/analysis, src/store/analyses.rs).
--
-- `claimed_by`: who is asking Bland about a `pending` analysis right now. A worker (the
-- daemon's, or an `analyze` run) claims due rows in one statement: it writes its own id here and
-- moves `next_try_at` to the end of its lease, so no other worker asks the same row meanwhile;
-- the claim is cleared when the answer or the failure is recorded. A claim whose lease has
-- passed (its worker crashed) is due again. A pending row with a claimer and a lease still
-- running is a request in flight, which the spend limit counts at its estimated price.
ALTER TABLE call_analyses ADD COLUMN claimed_by TEXT;

-- A campaign's due rows in order, for its claims, and its requests in flight (claimed rows have
-- a `next_try_at` in the future).
CREATE INDEX call_analyses_campaign_due ON call_analyses (campaign_id, next_try_at) WHERE state = 'pending';

-- What each campaign's analyses have cost: the sum of the prices Bland returned and how many
-- rows have one (their mean is the estimate of the next request). Maintained in the same
-- transaction as each price is recorded, so the spend limit is checked without summing a
-- million rows. `price` of a row is what Bland charged for it in all: it grows if a row was ever
-- answered twice (see src/store/analyses.rs), so the sum here is the money spent.
CREATE TABLE analysis_spend (
    campaign_id  TEXT PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    spent_usd    REAL NOT NULL DEFAULT 0,
    priced       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO analysis_spend (campaign_id, spent_usd, priced)
    SELECT campaign_id, SUM(price), COUNT(price) FROM call_analyses WHERE price IS NOT NULL GROUP BY campaign_id;
