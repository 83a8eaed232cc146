-- 样式二 (issue 14 item 4; docs/certificates.md §4): the verified source certificates a
-- buyer's certificate rests on, one row each (混装 from several suppliers).
CREATE TABLE certificate_sources (
    certificate_number TEXT NOT NULL REFERENCES certificates (number),
    position           INTEGER NOT NULL,
    source_number      TEXT NOT NULL,
    source_product     TEXT NOT NULL,
    source_quantity    TEXT NOT NULL,
    source_unit        TEXT NOT NULL,
    qr_text            TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (certificate_number, position)
);
CREATE INDEX certificate_sources_source ON certificate_sources (source_number);
