-- The county's enforcement loop (docs/enforcement.md).
--
-- 1. What a certificate says about its issuer and its produce, kept by the collector
--    (station/db.py projections), so the county can answer "which certificates did this
--    producer issue for this product last week, and where were they checked in".
--    Rows stored before this migration keep '' (their events still hold everything).
ALTER TABLE certificates ADD COLUMN issuer_name TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN issuer_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN inputs_used TEXT NOT NULL DEFAULT '[]';
ALTER TABLE certificates ADD COLUMN test_ref TEXT;
ALTER TABLE certificates ADD COLUMN style TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS certificates_issuer_phone ON certificates (county, issuer_phone);
-- 样式二: the certificates a buyer's certificate re-issues (one row per source).
CREATE TABLE IF NOT EXISTS certificate_sources (
    county        TEXT NOT NULL,
    number        TEXT NOT NULL,
    source_number TEXT NOT NULL,
    PRIMARY KEY (county, number, source_number)
);
CREATE INDEX IF NOT EXISTS certificate_sources_source ON certificate_sources (county, source_number);

-- 2. County-wide holds (station/holds.py): from a kiosk's confirmed positive (origin_*),
--    a failed official sample, or an officer; lifted only by an officer.
CREATE TABLE IF NOT EXISTS county_holds (
    county         TEXT NOT NULL,
    hold_id        TEXT NOT NULL,
    product_code   TEXT NOT NULL,
    reason         TEXT NOT NULL,
    source         TEXT NOT NULL,
    placed_at      TEXT NOT NULL,
    placed_by      TEXT NOT NULL,
    contact        TEXT NOT NULL DEFAULT '',
    origin_device  TEXT,
    origin_hold_id BIGINT,
    sample_id      BIGINT,
    lifted_at      TEXT,
    lifted_by      TEXT,
    lift_reason    TEXT,
    PRIMARY KEY (county, hold_id),
    UNIQUE (county, origin_device, origin_hold_id)
);
CREATE TABLE IF NOT EXISTS county_hold_identifiers (
    county     TEXT NOT NULL,
    hold_id    TEXT NOT NULL,
    identifier TEXT NOT NULL,
    PRIMARY KEY (county, hold_id, identifier)
);
-- Each signed hold list sent: its version and what it said (a digest of its content).
CREATE TABLE IF NOT EXISTS hold_publications (
    county       TEXT NOT NULL,
    version      BIGINT NOT NULL,
    digest       TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    open_holds   INTEGER NOT NULL,
    PRIMARY KEY (county, version)
);
-- Certificates under a trace (a hold's window of that producer's certificates): the
-- scan page shows 该批次已被追溯 for them.
CREATE TABLE IF NOT EXISTS trace_certificates (
    county  TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    number  TEXT NOT NULL,
    PRIMARY KEY (county, hold_id, number)
);
CREATE INDEX IF NOT EXISTS trace_certificates_number ON trace_certificates (county, number);

-- 3. The producer ledger (主体名录, station/ledger.py): one record per producer of the
--    county, its identifiers ("kind:value" as in wire/holds.py; shared identifiers are
--    how duplicates are found), merged by an officer (merged_into names the survivor).
CREATE TABLE IF NOT EXISTS ledger_producers (
    county       TEXT NOT NULL,
    producer_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    township     TEXT NOT NULL DEFAULT '',
    products     TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    merged_into  TEXT,
    PRIMARY KEY (county, producer_id)
);
CREATE TABLE IF NOT EXISTS producer_identifiers (
    county      TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    PRIMARY KEY (county, identifier, producer_id)
);
CREATE INDEX IF NOT EXISTS producer_identifiers_producer ON producer_identifiers (county, producer_id);
