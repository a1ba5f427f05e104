-- One user per email whatever its case: lookups fold case, so two rows differing only
-- in case would make an address unusable. Fails when such rows exist already: the
-- launch error names the statement, and the rows must be merged by hand first.
CREATE UNIQUE INDEX IF NOT EXISTS uq_user_email_folded ON "user" (LOWER(email));
