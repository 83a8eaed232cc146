-- Per-day rollups for the dashboard (station/rollups.py): a window of any length reads
-- rollup rows, not two years of certificates. Kept by the collector's writer in the
-- transaction that stores the events, so they never drift from the raw rows; the
-- INSERT ... SELECT statements below fill them from the rows already stored (and
-- station/rollups.py: rebuild runs the same statements).
--
-- grain: 'D' (period 2026-11-30), 'M' (2026-11), 'Y' (2026); a window is read as whole
-- years, whole months and the days at its ends. '*' in a key column: every value
-- (township '*': the county; product '*': every product).
CREATE TABLE IF NOT EXISTS rollup_certificates (
    county       TEXT NOT NULL,
    grain        TEXT NOT NULL,
    period       TEXT NOT NULL,
    township     TEXT NOT NULL,
    product_code TEXT NOT NULL,
    product_name TEXT NOT NULL,
    issued       BIGINT NOT NULL,
    kg           DOUBLE PRECISION NOT NULL,
    voided       BIGINT NOT NULL,
    -- Producers whose latest certificate (in this key) falls in the period; see members.
    producers    BIGINT NOT NULL,
    PRIMARY KEY (grain, period, township, product_code, product_name, county)
);
CREATE TABLE IF NOT EXISTS rollup_rapid_tests (
    county       TEXT NOT NULL,
    grain        TEXT NOT NULL,
    period       TEXT NOT NULL,
    device       TEXT NOT NULL,
    method       TEXT NOT NULL,
    product_code TEXT NOT NULL,
    runs         BIGINT NOT NULL,
    positives    BIGINT NOT NULL,
    invalid      BIGINT NOT NULL,
    -- Samples (and confirmed-positive samples) whose latest run falls in the period.
    samples      BIGINT NOT NULL,
    confirmed    BIGINT NOT NULL,
    PRIMARY KEY (grain, period, device, method, product_code, county)
);
-- Distinct counts do not add up across days. One row per day a member (a producer, a
-- sample) was active in a group, with the next day it was active again: the members
-- active in days a..b are those whose latest day up to b lies in a..b, i.e. the
-- per-period "latest day" counters above plus the rows here with a <= day <= b < next_day
-- (none when the window ends today). kind: cert_c (county), cert_t (township),
-- cert_p (township x product), test_s and test_c (samples, confirmed samples, per kiosk x
-- method x product), test_sd and test_cd (the same per kiosk: method '*'). Producers
-- of the county and per product are counted across the store's counties (county '*'),
-- as the dashboard's raw query did; per township within its county (a township belongs
-- to one county; the statistics page counts per county).
CREATE TABLE IF NOT EXISTS rollup_members (
    county   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    g1       TEXT NOT NULL,
    g2       TEXT NOT NULL,
    g3       TEXT NOT NULL,
    member   TEXT NOT NULL,
    day      TEXT NOT NULL,
    next_day TEXT,
    PRIMARY KEY (county, kind, g1, g2, g3, member, day)
);
CREATE INDEX IF NOT EXISTS rollup_members_next ON rollup_members (kind, next_day, day)
    WHERE next_day IS NOT NULL;
-- Backfill (statements from here on are what rollups.rebuild runs).
INSERT INTO rollup_members (county, kind, g1, g2, g3, member, day, next_day)
SELECT county, kind, g1, g2, g3, member, day,
       lead(day) OVER (PARTITION BY county, kind, g1, g2, g3, member ORDER BY day)
FROM (
    SELECT DISTINCT CASE WHEN k.kind = 'cert_t' THEN c.county ELSE '*' END AS county, k.kind,
           CASE WHEN k.kind = 'cert_c' THEN '*' ELSE c.township END AS g1,
           CASE WHEN k.kind = 'cert_p' THEN c.product_code ELSE '*' END AS g2,
           CASE WHEN k.kind = 'cert_p' THEN c.product_name ELSE '*' END AS g3,
           c.producer_key AS member, c.day
    FROM certificates c
    CROSS JOIN (SELECT 'cert_c' AS kind UNION ALL SELECT 'cert_t' UNION ALL SELECT 'cert_p') k
    UNION
    SELECT t.county, 'test_s', t.device, t.method, t.product_code,
           coalesce(t.sample_id, t.test_id), t.day
    FROM rapid_tests t
    UNION
    SELECT t.county, 'test_c', t.device, t.method, t.product_code,
           coalesce(t.sample_id, t.test_id), t.day
    FROM rapid_tests t WHERE t.verdict = 'positive'
    UNION
    SELECT t.county, 'test_sd', t.device, '*', '*', coalesce(t.sample_id, t.test_id), t.day
    FROM rapid_tests t
    UNION
    SELECT t.county, 'test_cd', t.device, '*', '*', coalesce(t.sample_id, t.test_id), t.day
    FROM rapid_tests t WHERE t.verdict = 'positive'
) x;
INSERT INTO rollup_certificates (county, grain, period, township, product_code, product_name,
                                 issued, kg, voided, producers)
SELECT b.county, g.grain, substr(b.day, 1, g.len),
       CASE WHEN k.kind = 'cert_c' THEN '*' ELSE b.township END,
       CASE WHEN k.kind = 'cert_p' THEN b.product_code ELSE '*' END,
       CASE WHEN k.kind = 'cert_p' THEN b.product_name ELSE '*' END,
       sum(b.issued), sum(b.kg), sum(b.voided), sum(b.latest)
FROM (
    SELECT c.county, c.day, c.township, c.product_code, c.product_name, NULL AS only,
           1 AS issued, {kg} AS kg,
           CASE WHEN v.number IS NULL THEN 0 ELSE 1 END AS voided, 0 AS latest
    FROM certificates c
    LEFT JOIN certificate_voids v ON v.county = c.county AND v.number = c.number
    UNION ALL
    SELECT m.county, m.day, m.g1, m.g2, m.g3, m.kind, 0, 0, 0, 1
    FROM rollup_members m
    WHERE m.next_day IS NULL AND m.kind IN ('cert_c', 'cert_t', 'cert_p')
) b
CROSS JOIN (SELECT 'cert_c' AS kind UNION ALL SELECT 'cert_t' UNION ALL SELECT 'cert_p') k
CROSS JOIN (SELECT 'D' AS grain, 10 AS len UNION ALL SELECT 'M', 7 UNION ALL SELECT 'Y', 4) g
WHERE b.only IS NULL OR b.only = k.kind
GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollup_rapid_tests (county, grain, period, device, method, product_code,
                                runs, positives, invalid, samples, confirmed)
SELECT b.county, g.grain, substr(b.day, 1, g.len), b.device,
       CASE WHEN k.kind = 'test_s' THEN b.method ELSE '*' END,
       CASE WHEN k.kind = 'test_s' THEN b.product_code ELSE '*' END,
       sum(b.runs), sum(b.positives), sum(b.invalid), sum(b.samples), sum(b.confirmed)
FROM (
    SELECT t.county, t.day, t.device, t.method, t.product_code, NULL AS only, 1 AS runs,
           CASE WHEN t.verdict = 'positive' THEN 1 ELSE 0 END AS positives,
           CASE WHEN t.verdict = 'invalid' THEN 1 ELSE 0 END AS invalid,
           0 AS samples, 0 AS confirmed
    FROM rapid_tests t
    UNION ALL
    SELECT m.county, m.day, m.g1, m.g2, m.g3,
           CASE WHEN m.kind IN ('test_s', 'test_c') THEN 'test_s' ELSE 'test_sd' END, 0, 0, 0,
           CASE WHEN m.kind IN ('test_s', 'test_sd') THEN 1 ELSE 0 END,
           CASE WHEN m.kind IN ('test_c', 'test_cd') THEN 1 ELSE 0 END
    FROM rollup_members m
    WHERE m.next_day IS NULL AND m.kind IN ('test_s', 'test_c', 'test_sd', 'test_cd')
) b
CROSS JOIN (SELECT 'test_s' AS kind UNION ALL SELECT 'test_sd') k
CROSS JOIN (SELECT 'D' AS grain, 10 AS len UNION ALL SELECT 'M', 7 UNION ALL SELECT 'Y', 4) g
WHERE b.only IS NULL OR b.only = k.kind
GROUP BY 1, 2, 3, 4, 5, 6;
