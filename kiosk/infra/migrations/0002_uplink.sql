-- Uplink bookkeeping: send attempts per event, the last broker refusal, a small
-- key/value table for the uplink's own state (backlog alarm raised or not), and an
-- index so purging acknowledged rows does not scan the whole outbox.

ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;

CREATE INDEX outbox_acked_at ON outbox (acked_at) WHERE state = 'acked';

CREATE TABLE uplink_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
