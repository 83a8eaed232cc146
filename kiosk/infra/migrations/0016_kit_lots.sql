-- Kit and reagent lots (issue 13 item 1): a run names the lot it was done with and its
-- expiry; strip lots bring their own cut-offs and control-line rule (params_json).
CREATE TABLE kit_lots (
    lot         TEXT NOT NULL,
    method_id   TEXT NOT NULL,
    expires_on  TEXT NOT NULL,                 -- YYYY-MM-DD, usable through that day
    maker       TEXT NOT NULL DEFAULT '',
    params_json TEXT NOT NULL DEFAULT '{}',    -- strip cut-offs from the lot file
    added_at    TEXT NOT NULL,
    added_by    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (lot, method_id)
);

ALTER TABLE rapid_runs ADD COLUMN kit_lot TEXT;
ALTER TABLE rapid_runs ADD COLUMN kit_expires TEXT;
ALTER TABLE rapid_results ADD COLUMN kit_lot TEXT NOT NULL DEFAULT '';
