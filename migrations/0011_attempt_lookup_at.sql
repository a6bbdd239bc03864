-- When an attempt whose send failed ambiguously is looked up at Bland: soon after a 500 that
-- Bland's application answered (its handling of the send had ended, so a call it placed is
-- already listed), later after a timeout, a connection cut in flight or a gateway's 502/503/504
-- (the send may still be running behind it). NULL: by `[dispatcher] reconcile_after` from the
-- dial (a send whose fate a crash left unknown).
ALTER TABLE attempts ADD COLUMN lookup_at INTEGER;
