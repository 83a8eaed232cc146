-- The county's and a township's own rollup rows (township '*' or one township, product
-- '*'), found without reading every township x product row of each day: the per-day
-- series of a two-year window reads 730 rows, not 650,000.
CREATE INDEX IF NOT EXISTS rollup_certificates_scope ON rollup_certificates
    (township, product_code, grain, period);
