-- Sharing (抽检信息互通共享, station/sharing.py): records staged once each (unique record
-- id: the idempotency of the whole chain), pushed in batches whose key is fixed at the
-- first attempt, retried with backoff, and dead-lettered with the reason.
CREATE TABLE IF NOT EXISTS share_outbox (
    id           {autoinc_pk},
    county       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    section      TEXT NOT NULL,
    line         TEXT NOT NULL,
    staged_at    TEXT NOT NULL,
    batch_key    TEXT,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    sent_at      TEXT,
    UNIQUE (county, record_id)
);
CREATE INDEX IF NOT EXISTS share_outbox_pending ON share_outbox (county, state, id);
CREATE TABLE IF NOT EXISTS share_state (
    county   TEXT NOT NULL,
    section  TEXT NOT NULL,
    position TEXT NOT NULL,
    PRIMARY KEY (county, section)
);
