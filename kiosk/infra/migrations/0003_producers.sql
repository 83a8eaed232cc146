-- Producer registry (kiosk/producers.py) and staff PINs with their lock-out (kiosk/staff.py).
-- IF NOT EXISTS: databases created while 0003 was a placeholder get these tables from
-- kiosk.producers.ensure_schema() instead, with the same statements.

CREATE TABLE IF NOT EXISTS producers (
    producer_id   TEXT PRIMARY KEY,          -- printed in the card's QR; the producer_key
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL,
    village       TEXT NOT NULL DEFAULT '',
    platform_code TEXT,                      -- the national platform's 主体码, if known
    pin_hash      TEXT,                      -- scrypt$n$r$p$salt$hash (hex), NULL = no PIN
    source        TEXT NOT NULL CHECK (source IN ('kiosk', 'roster')),
    registered_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS producers_phone ON producers (phone);
CREATE UNIQUE INDEX IF NOT EXISTS producers_platform ON producers (platform_code)
    WHERE platform_code IS NOT NULL;

CREATE TABLE IF NOT EXISTS staff_credentials (
    role       TEXT PRIMARY KEY CHECK (role IN ('staff', 'technician')),
    pin_hash   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Failed PIN attempts per subject ("staff", "technician", "producer:<id>"), kept in the
-- database so that restarting the kiosk does not lift a lock-out.
CREATE TABLE IF NOT EXISTS pin_attempts (
    subject         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    first_failure   TEXT NOT NULL,
    locked_until    TEXT
);
