-- Core tables: certificates, their print jobs, holds, the outbox and counters.
-- Times are ISO 8601 with offset; quantities are decimal text (never floats).

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE certificates (
    number             TEXT PRIMARY KEY,
    seq                INTEGER NOT NULL UNIQUE,
    device_id          TEXT NOT NULL,
    county             TEXT NOT NULL,
    issued_at          TEXT NOT NULL,
    template_id        TEXT NOT NULL,
    style              TEXT NOT NULL,
    product_code       TEXT NOT NULL,
    product_name       TEXT NOT NULL,
    quantity           TEXT NOT NULL,
    unit               TEXT NOT NULL,
    origin             TEXT NOT NULL,
    issuer_name        TEXT NOT NULL,
    issuer_phone       TEXT NOT NULL,
    producer_key       TEXT NOT NULL,
    basis              TEXT NOT NULL,
    inputs_used        TEXT NOT NULL DEFAULT '[]',
    test_ref           TEXT,
    source_certificate TEXT,
    status             TEXT NOT NULL CHECK (status IN ('issued', 'printed', 'voided')),
    print_count        INTEGER NOT NULL DEFAULT 0,
    qr_text            TEXT NOT NULL,
    voided_at          TEXT,
    void_reason        TEXT
);
CREATE INDEX certificates_issued_at ON certificates (issued_at);
CREATE INDEX certificates_producer ON certificates (producer_key, issued_at);

CREATE TABLE print_jobs (
    id                 INTEGER PRIMARY KEY,
    certificate_number TEXT NOT NULL REFERENCES certificates (number),
    kind               TEXT NOT NULL CHECK (kind IN ('print', 'reprint')),
    copies             INTEGER NOT NULL,
    copies_done        INTEGER NOT NULL DEFAULT 0,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    error              TEXT,
    created_at         TEXT NOT NULL,
    finished_at        TEXT
);
CREATE INDEX print_jobs_certificate ON print_jobs (certificate_number);

CREATE TABLE holds (
    id           INTEGER PRIMARY KEY,
    producer_key TEXT NOT NULL,
    product_code TEXT NOT NULL,
    reason       TEXT NOT NULL,
    source       TEXT,
    placed_at    TEXT NOT NULL,
    lifted_at    TEXT,
    lifted_by    TEXT
);
CREATE INDEX holds_active ON holds (producer_key, product_code) WHERE lifted_at IS NULL;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    schema     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'acked')),
    sent_at    TEXT,
    acked_at   TEXT
);
CREATE INDEX outbox_state ON outbox (state, seq);
