-- Indexes two busy years call for (bench/bench_longevity.py: 300,000 certificates,
-- 50,000 rapid tests). Without them each of these statements scans a whole table:
--   unprinted() / `certificates list --status S`: WHERE status = ? ORDER BY seq DESC
--     (245 ms on two years, read at every restart to resume printing);
--   the staff screens' recent samples and results: ORDER BY registered_at / finished_at.
-- A status index over all rows (not a partial one): the services bind the status as a
-- parameter, which a partial index's WHERE cannot be matched against.

CREATE INDEX certificates_status ON certificates (status, seq);
CREATE INDEX rapid_samples_registered ON rapid_samples (registered_at);
CREATE INDEX rapid_results_finished ON rapid_results (finished_at, test_id);
