-- Counting like the county counts (issue 13 item 6): each rapid-test result names its
-- sample and the batch the sample stands for, so samples, batches and a pass rate per
-- sample are counted, not runs (re-tests no longer inflate the denominator).
ALTER TABLE rapid_tests ADD COLUMN sample_id TEXT;
ALTER TABLE rapid_tests ADD COLUMN batch_id TEXT;
CREATE INDEX IF NOT EXISTS rapid_tests_sample ON rapid_tests (county, device, sample_id);
