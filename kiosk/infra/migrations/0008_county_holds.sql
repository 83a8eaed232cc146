-- County-wide holds (wire/holds.py): the newest signed hold list the county published,
-- as rows the issuance check reads. Replaced as a whole when a newer list arrives
-- (kiosk/services/county_holds.py); the list's version refuses replays.

CREATE TABLE county_hold_list (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL,
    issued_at  TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE county_holds (
    hold_id      TEXT PRIMARY KEY,
    product_code TEXT NOT NULL,           -- '*' holds every product of the producer
    reason       TEXT NOT NULL,
    source       TEXT NOT NULL,
    placed_at    TEXT NOT NULL,
    contact      TEXT NOT NULL DEFAULT ''
);

-- "kind:value" (phone:138..., producer_id:K001-P000001, platform_code:..., id_number:...)
CREATE TABLE county_hold_identifiers (
    hold_id    TEXT NOT NULL REFERENCES county_holds (hold_id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    PRIMARY KEY (identifier, hold_id)
);
