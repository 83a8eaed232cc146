-- Events as received (stored once per county and event id), their projections for
-- reports, the fleet's last states, and the quarantine of what could not be stored.
-- {autoinc_pk} and {blob} are filled per dialect (station/migrate.py).
CREATE TABLE IF NOT EXISTS events (
    county      TEXT NOT NULL,
    device      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    version     INTEGER NOT NULL,
    event_time  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (county, device, seq),
    UNIQUE (county, event_id)
);
CREATE TABLE IF NOT EXISTS certificates (
    county        TEXT NOT NULL,
    number        TEXT NOT NULL,
    device        TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    day           TEXT NOT NULL,
    township      TEXT NOT NULL,
    service_point TEXT NOT NULL,
    product_code  TEXT NOT NULL,
    product_name  TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    unit          TEXT NOT NULL,
    basis         TEXT NOT NULL,
    producer_key  TEXT NOT NULL,
    PRIMARY KEY (county, number)
);
CREATE TABLE IF NOT EXISTS certificate_voids (
    county     TEXT NOT NULL,
    number     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    voided_at  TEXT NOT NULL,
    PRIMARY KEY (county, number)
);
CREATE TABLE IF NOT EXISTS rapid_tests (
    county       TEXT NOT NULL,
    device       TEXT NOT NULL,
    test_id      TEXT NOT NULL,
    day          TEXT NOT NULL,
    producer_key TEXT NOT NULL,
    product_code TEXT NOT NULL,
    method       TEXT NOT NULL,
    analyte      TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    retest_of    TEXT,
    PRIMARY KEY (county, device, test_id)
);
CREATE TABLE IF NOT EXISTS holds (
    county       TEXT NOT NULL,
    device       TEXT NOT NULL,
    hold_id      BIGINT NOT NULL,
    producer_key TEXT NOT NULL,
    product_code TEXT NOT NULL,
    reason       TEXT NOT NULL,
    placed_at    TEXT NOT NULL,
    PRIMARY KEY (county, device, hold_id)
);
CREATE TABLE IF NOT EXISTS hold_lifts (
    county    TEXT NOT NULL,
    device    TEXT NOT NULL,
    hold_id   BIGINT NOT NULL,
    lifted_by TEXT NOT NULL,
    lifted_at TEXT NOT NULL,
    PRIMARY KEY (county, device, hold_id)
);
CREATE TABLE IF NOT EXISTS device_state (
    county           TEXT NOT NULL,
    device           TEXT NOT NULL,
    status           TEXT NOT NULL,
    software_version TEXT NOT NULL,
    config_version   TEXT NOT NULL,
    backlog          BIGINT NOT NULL,
    state_time       TEXT NOT NULL,
    PRIMARY KEY (county, device)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id          {autoinc_pk},
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    payload     {blob} NOT NULL
);
