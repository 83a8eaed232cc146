-- Provisioning (docs/provisioning.md): the hash-chained audit log, remote commands
-- (executed at most once: the replay guard), the hardware relay between the agent and
-- the UI process, and the outcome of every signed config bundle.

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Append-only: the database itself refuses to change or remove a row.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE commands (
    id          TEXT PRIMARY KEY,
    nonce       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    reply       TEXT
);

CREATE TABLE hardware_requests (
    id          INTEGER PRIMARY KEY,
    command_id  TEXT,
    action      TEXT NOT NULL,
    args        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'taken', 'done', 'failed', 'expired')),
    result      TEXT,
    created_at  TEXT NOT NULL,
    deadline    REAL NOT NULL,
    finished_at TEXT
);
CREATE INDEX hardware_requests_pending ON hardware_requests (state, id);

CREATE TABLE config_history (
    version INTEGER PRIMARY KEY,
    status  TEXT NOT NULL,
    reason  TEXT NOT NULL DEFAULT '',
    at      TEXT NOT NULL
);
