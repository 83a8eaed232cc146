-- The county web service (station/web): accounts of county staff and markets, market
-- check-ins (合格证查验) and reports of produce without a certificate (无证反馈),
-- acknowledged alarms, and the audit log of every officer action.
-- Indexes serve the scan page (one certificate, its void, its producer's holds) and the
-- dashboard's windows over two years of a county (station/queries.py).
CREATE TABLE IF NOT EXISTS markets (
    id         {autoinc_pk},
    county     TEXT NOT NULL,
    name       TEXT NOT NULL,
    township   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (county, name)
);
CREATE TABLE IF NOT EXISTS accounts (
    id            {autoinc_pk},
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    market_id     BIGINT REFERENCES markets (id),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkins (
    id         {autoinc_pk},
    county     TEXT NOT NULL,
    number     TEXT NOT NULL,
    market_id  BIGINT NOT NULL REFERENCES markets (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    status     TEXT NOT NULL,
    valid      INTEGER NOT NULL,
    mode       TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    day        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkins_market_day ON checkins (market_id, day);
CREATE INDEX IF NOT EXISTS checkins_number ON checkins (county, number);
CREATE INDEX IF NOT EXISTS checkins_day ON checkins (day);
CREATE TABLE IF NOT EXISTS uncertified_reports (
    id          {autoinc_pk},
    market_id   BIGINT NOT NULL REFERENCES markets (id),
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    product     TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    supplier    TEXT NOT NULL,
    photo       {blob},
    reported_at TEXT NOT NULL,
    day         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uncertified_market_day ON uncertified_reports (market_id, day);
CREATE TABLE IF NOT EXISTS alarm_acks (
    county   TEXT NOT NULL,
    device   TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    acked_by TEXT NOT NULL,
    acked_at TEXT NOT NULL,
    PRIMARY KEY (county, device, seq)
);
CREATE TABLE IF NOT EXISTS web_audit (
    id       {autoinc_pk},
    at       TEXT NOT NULL,
    username TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
-- Covering: the dashboard's window aggregates read this index only, never the table.
CREATE INDEX IF NOT EXISTS certificates_window ON certificates
    (day, township, product_code, product_name, unit, quantity, producer_key);
CREATE INDEX IF NOT EXISTS certificates_producer ON certificates (county, producer_key);
CREATE INDEX IF NOT EXISTS certificates_device ON certificates (county, device, day);
CREATE INDEX IF NOT EXISTS rapid_tests_day ON rapid_tests (day);
CREATE INDEX IF NOT EXISTS rapid_tests_producer ON rapid_tests (county, producer_key);
CREATE INDEX IF NOT EXISTS holds_subject ON holds (county, device, producer_key, product_code);
CREATE INDEX IF NOT EXISTS events_schema ON events (schema_name, received_at);
