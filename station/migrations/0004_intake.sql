-- Conditions of the county's intake, one row per (county, device, code) with a running
-- count: a device over its quarantine cap or rate ("intake_flood", "intake_rate") and an
-- event id that arrived again with a different body ("event_conflict"). A flood of
-- 50,000 messages is one row whose count says how many were not stored.
CREATE TABLE IF NOT EXISTS intake_alarms (
    county   TEXT NOT NULL,
    device   TEXT NOT NULL,
    code     TEXT NOT NULL,
    message  TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at  TEXT NOT NULL,
    count    BIGINT NOT NULL,
    PRIMARY KEY (county, device, code)
);
