-- Official sampling results (监督抽检 / 例行监测, station/sampling.py): entered by an officer
-- or imported from a lab's CSV/Excel. A failed sample places a county hold (hold_id) and
-- starts a trace of the producer's certificates of that product.
CREATE TABLE IF NOT EXISTS official_samples (
    id            {autoinc_pk},
    county        TEXT NOT NULL,
    sample_no     TEXT NOT NULL,
    program       TEXT NOT NULL,
    producer_name TEXT NOT NULL,
    identifiers   TEXT NOT NULL,
    product_code  TEXT NOT NULL,
    product_name  TEXT NOT NULL,
    place         TEXT NOT NULL,
    sampled_on    TEXT NOT NULL,
    lab           TEXT NOT NULL,
    report_no     TEXT NOT NULL,
    substance     TEXT NOT NULL,
    value         TEXT NOT NULL,
    limit_value   TEXT NOT NULL,
    unit          TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    entered_by    TEXT NOT NULL,
    entered_at    TEXT NOT NULL,
    hold_id       TEXT,
    UNIQUE (county, sample_no, substance)
);
CREATE INDEX IF NOT EXISTS official_samples_day ON official_samples (county, sampled_on);
-- Notices (通报) made from a trace: numbered per county and year, dated, kept as issued.
CREATE TABLE IF NOT EXISTS notices (
    county     TEXT NOT NULL,
    notice_no  TEXT NOT NULL,
    hold_id    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (county, notice_no)
);
