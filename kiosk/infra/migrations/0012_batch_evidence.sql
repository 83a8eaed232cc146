-- Evidence per batch (issue 14 item 3; docs/certificates.md §3): a rapid-test sample is
-- registered with the production batch it was drawn from; 自行检测合格 certificates
-- name the sample, and together may not exceed the batch nor outlive the window.
ALTER TABLE rapid_samples ADD COLUMN batch_quantity TEXT;      -- decimal text, NULL: none
ALTER TABLE rapid_samples ADD COLUMN batch_unit TEXT;
ALTER TABLE rapid_samples ADD COLUMN sampling_place TEXT NOT NULL DEFAULT '';
ALTER TABLE rapid_samples ADD COLUMN sampled_at TEXT;

ALTER TABLE certificates ADD COLUMN sample_id TEXT;            -- 自行检测合格: the sample
ALTER TABLE certificates ADD COLUMN lab_name TEXT;             -- 委托检测合格: the lab
CREATE INDEX certificates_sample ON certificates (sample_id) WHERE sample_id IS NOT NULL;
