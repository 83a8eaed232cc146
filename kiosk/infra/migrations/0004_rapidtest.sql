-- Rapid tests: samples as registered, every reader run with its raw data (so each
-- verdict can be recomputed), one result per sample channel or strip, lab referrals.
-- Times are ISO 8601 with offset. Raw data and method snapshots are JSON text.

CREATE TABLE rapid_samples (
    sample_id     TEXT PRIMARY KEY,
    producer_key  TEXT NOT NULL,
    producer_name TEXT NOT NULL,
    phone         TEXT NOT NULL,
    product_code  TEXT NOT NULL,
    inputs_used   TEXT NOT NULL DEFAULT '[]',
    note          TEXT NOT NULL DEFAULT '',
    registered_at TEXT NOT NULL
);
CREATE INDEX rapid_samples_producer ON rapid_samples (producer_key, product_code);

CREATE TABLE rapid_runs (
    run_key         TEXT PRIMARY KEY,
    method_id       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('enzyme', 'strip')),
    method_json     TEXT NOT NULL,
    reader_serial   TEXT,
    reader_firmware TEXT,
    reader_run_id   INTEGER,
    control_channel INTEGER,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    error           TEXT,
    raw_json        TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT
);

CREATE TABLE rapid_results (
    test_id     TEXT PRIMARY KEY,
    run_key     TEXT NOT NULL REFERENCES rapid_runs (run_key),
    sample_id   TEXT NOT NULL REFERENCES rapid_samples (sample_id),
    method_id   TEXT NOT NULL,
    analyte     TEXT NOT NULL,
    portion     INTEGER NOT NULL CHECK (portion >= 1),
    channel     TEXT NOT NULL,
    value       REAL,
    unit        TEXT NOT NULL,
    reading     TEXT NOT NULL CHECK (reading IN ('negative', 'suspicious', 'positive', 'invalid')),
    verdict     TEXT NOT NULL CHECK (verdict IN ('negative', 'suspicious', 'positive', 'invalid')),
    status      TEXT NOT NULL
                CHECK (status IN ('final', 'invalid', 'retest_required', 'unresolved', 'confirmed')),
    reason      TEXT,
    advice      TEXT,
    detail_json TEXT NOT NULL DEFAULT '{}',
    retest_of   TEXT REFERENCES rapid_results (test_id),
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE INDEX rapid_results_case ON rapid_results (sample_id, method_id, finished_at);

CREATE TABLE lab_referrals (
    id               INTEGER PRIMARY KEY,
    test_id          TEXT NOT NULL UNIQUE REFERENCES rapid_results (test_id),
    sample_id        TEXT NOT NULL REFERENCES rapid_samples (sample_id),
    producer_key     TEXT NOT NULL,
    product_code     TEXT NOT NULL,
    lab_methods      TEXT NOT NULL,
    hold_id          INTEGER REFERENCES holds (id),
    sample_retained  INTEGER NOT NULL DEFAULT 1,
    referred_at      TEXT NOT NULL,
    dispute_deadline TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed'))
);
