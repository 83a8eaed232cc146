-- Per-person staff and technician accounts (kiosk/services/staff.py) replace the shared
-- role PINs of 0003, so that a login, a rapid-test result or a void names a person.
-- Shared PINs are not carried over: they were 4 digits and named nobody; the county sets
-- accounts up with `kiosk staff add` (docs/deploy.md).
CREATE TABLE staff_accounts (
    account_id  INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('staff', 'technician')),
    pin_hash    TEXT NOT NULL,                 -- scrypt$n$r$p$salt$hash (hex)
    source      TEXT NOT NULL CHECK (source IN ('cli', 'county', 'demo')),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

DROP TABLE IF EXISTS staff_credentials;
DELETE FROM pin_attempts WHERE subject IN ('staff', 'technician');

-- Lock-outs served since the last success: each one lasts longer than the one before.
ALTER TABLE pin_attempts ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;

-- Who ran a rapid test and who registered its sample (the logged-in account's name).
ALTER TABLE rapid_runs ADD COLUMN tester TEXT NOT NULL DEFAULT '';
ALTER TABLE rapid_results ADD COLUMN tester TEXT NOT NULL DEFAULT '';
ALTER TABLE rapid_samples ADD COLUMN registered_by TEXT NOT NULL DEFAULT '';
