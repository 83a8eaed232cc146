-- County notices (通报) for this kiosk, from the signed hold list (wire/holds.py Notice):
-- the staff's holds screen shows them. Replaced with the list.

CREATE TABLE county_notices (
    number    TEXT PRIMARY KEY,
    title     TEXT NOT NULL,
    text      TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
