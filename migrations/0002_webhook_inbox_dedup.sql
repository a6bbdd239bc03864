-- A webhook delivery's body is stored once per call and content. Bland signs a delivery without
-- a timestamp or nonce, so anyone who captured one can replay it at will: each replay still
-- gets its own small row (the inbox stays one row per delivery, in arrival order), but the body
-- (up to 2 MiB) is not stored again; its repeats are counted instead. Old deliveries are pruned
-- by age ([outcomes] inbox_retention).

CREATE TABLE webhook_bodies (
    id                INTEGER PRIMARY KEY,
    call_id           TEXT NOT NULL,
    body_sha256       TEXT NOT NULL,          -- hex; 'legacy:<id>' for rows from before 0002
    body              TEXT NOT NULL,
    first_received_at INTEGER NOT NULL,
    last_received_at  INTEGER NOT NULL,
    repeats           INTEGER NOT NULL DEFAULT 0   -- deliveries of this body after the first
);
CREATE UNIQUE INDEX webhook_bodies_call_hash ON webhook_bodies (call_id, body_sha256);
CREATE INDEX webhook_bodies_last_received ON webhook_bodies (last_received_at);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    call_id     TEXT,
    attempt_id  TEXT,
    body_id     INTEGER NOT NULL REFERENCES webhook_bodies (id),
    result      TEXT NOT NULL           -- applied | updated | duplicate | not_final | unmatched
);
CREATE INDEX webhook_deliveries_call ON webhook_deliveries (call_id);
CREATE INDEX webhook_deliveries_body ON webhook_deliveries (body_id);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);

-- Existing deliveries keep their ids and bodies (no SHA-256 in SQL: they are never matched as
-- repeats).
INSERT INTO webhook_bodies (id, call_id, body_sha256, body, first_received_at, last_received_at, repeats)
    SELECT id, COALESCE(call_id, ''), 'legacy:' || id, body, received_at, received_at, 0 FROM webhook_inbox;
INSERT INTO webhook_deliveries (id, received_at, call_id, attempt_id, body_id, result)
    SELECT id, received_at, call_id, attempt_id, id, result FROM webhook_inbox;
DROP TABLE webhook_inbox;

-- The inbox as it always read: one row per delivery with its body.
CREATE VIEW webhook_inbox AS
    SELECT d.id, d.received_at, d.call_id, d.attempt_id, b.body, d.result, b.body_sha256, b.repeats
    FROM webhook_deliveries d JOIN webhook_bodies b ON b.id = d.body_id;
