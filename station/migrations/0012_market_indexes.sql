-- The markets page over two years of a county (~460,000 check-ins): covering indexes
-- led by the day, so the per market-day counts, the certificates checked at several
-- markets and the per market-day reports without a certificate read only the window's
-- index entries, never the table (station/queries.py market_stats,
-- certificates_at_several_markets).
CREATE INDEX IF NOT EXISTS checkins_day_market ON checkins (day, market_id, valid);
CREATE INDEX IF NOT EXISTS checkins_day_number ON checkins
    (day, county, number, market_id, checked_at);
CREATE INDEX IF NOT EXISTS uncertified_day_market ON uncertified_reports (day, market_id);
