-- Risk grades and credit states pushed by the county in the signed hold list
-- (wire/holds.py Grade): what bases this kiosk offers a producer
-- (kiosk/services/county_holds.py: grade_refusal, offered_bases). Replaced with the list.

CREATE TABLE county_grades (
    id        INTEGER PRIMARY KEY,
    grade     TEXT NOT NULL CHECK (grade IN ('yellow', 'red', 'untrusted')),
    reason    TEXT NOT NULL,
    contact   TEXT NOT NULL DEFAULT '',
    test_days INTEGER NOT NULL
);

CREATE TABLE county_grade_identifiers (
    grade_id   INTEGER NOT NULL REFERENCES county_grades (id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    PRIMARY KEY (identifier, grade_id)
);
