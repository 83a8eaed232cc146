-- Lab referrals that close (issue 13 item 5): the tester confirms the sample was
-- retained (it was assumed before); the lab's result closes the referral as confirmed
-- (the hold stays) or cleared (the hold is lifted, audited).
ALTER TABLE lab_referrals ADD COLUMN retained_by TEXT;
ALTER TABLE lab_referrals ADD COLUMN retained_at TEXT;
ALTER TABLE lab_referrals ADD COLUMN lab TEXT;
ALTER TABLE lab_referrals ADD COLUMN report_number TEXT;
ALTER TABLE lab_referrals ADD COLUMN substance TEXT;
ALTER TABLE lab_referrals ADD COLUMN measured_value TEXT;   -- decimal text, as reported
ALTER TABLE lab_referrals ADD COLUMN limit_value TEXT;      -- the MRL it was judged against
ALTER TABLE lab_referrals ADD COLUMN value_unit TEXT;
ALTER TABLE lab_referrals ADD COLUMN reported_on TEXT;      -- YYYY-MM-DD
ALTER TABLE lab_referrals ADD COLUMN outcome TEXT CHECK (outcome IN ('confirmed', 'cleared'));
ALTER TABLE lab_referrals ADD COLUMN closed_at TEXT;
ALTER TABLE lab_referrals ADD COLUMN closed_by TEXT;
