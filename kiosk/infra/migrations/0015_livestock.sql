-- Livestock certificates (issue 14 item 5; docs/certificates.md §5): the 动物检疫合格证明
-- number, and for cattle every animal's ear tag (肉牛流通全程追溯).
ALTER TABLE certificates ADD COLUMN quarantine_cert TEXT;
ALTER TABLE certificates ADD COLUMN ear_tags TEXT NOT NULL DEFAULT '[]';
