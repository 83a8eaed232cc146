-- Alarms have one owner (kiosk/infra/alarms.py): each condition is raised once and
-- cleared once, and "what is wrong now" is a query, not a guess from the outbox.
-- ``subject`` tells instances of one code apart (a test id, a port); '' when there is one.

CREATE TABLE alarms (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    cleared_at  TEXT
);

CREATE UNIQUE INDEX alarms_open ON alarms (code, subject) WHERE cleared_at IS NULL;

-- The backlog alarm's raised flag lived in uplink_state; it is an open alarm now.
INSERT INTO alarms (code, subject, severity, message, detail, raised_at)
    SELECT 'backlog', '', 'warning', 'events wait for the county', '{}', datetime('now')
    FROM uplink_state WHERE name = 'backlog_alarm' AND value = '1';
DELETE FROM uplink_state WHERE name = 'backlog_alarm';
