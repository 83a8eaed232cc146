-- The fleet: enrollment codes and requests, devices and their keys, versions of what
-- the county publishes (config, trust list), and the command log.
CREATE TABLE IF NOT EXISTS enroll_codes (
    code_hash     TEXT PRIMARY KEY,
    county        TEXT NOT NULL,
    township      TEXT NOT NULL,
    service_point TEXT NOT NULL,
    device_id     TEXT,
    auto_approve  INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT
);
CREATE TABLE IF NOT EXISTS enroll_requests (
    id          TEXT PRIMARY KEY,
    county      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    code_mac_key TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    hostname    TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    device_id   TEXT,
    received_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    county        TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    township      TEXT NOT NULL,
    service_point TEXT NOT NULL,
    enrolled_at   TEXT NOT NULL,
    PRIMARY KEY (county, device_id)
);
CREATE TABLE IF NOT EXISTS device_keys (
    county     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (county, key_id)
);
CREATE TABLE IF NOT EXISTS county_versions (
    county  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (county, kind)
);
CREATE TABLE IF NOT EXISTS command_log (
    id         TEXT PRIMARY KEY,
    county     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    args       TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reply      TEXT,
    replied_at TEXT
);
