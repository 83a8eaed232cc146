-- Risk grades and credit (station/grading.py, docs/enforcement.md). Credit events are an
-- officer's record (失信 / 守信 / a grade decision) with reason and expiry; grades are
-- computed from the rules and kept with their causes; every change of grade is logged.
CREATE TABLE IF NOT EXISTS credit_events (
    id          {autoinc_pk},
    county      TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    grade       TEXT,
    reason      TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    expires_at  TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_events_producer ON credit_events (county, producer_id);
CREATE TABLE IF NOT EXISTS producer_grades (
    county      TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    grade       TEXT NOT NULL,
    causes      TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (county, producer_id)
);
CREATE TABLE IF NOT EXISTS grade_changes (
    id          {autoinc_pk},
    county      TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    old_grade   TEXT NOT NULL,
    new_grade   TEXT NOT NULL,
    causes      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
