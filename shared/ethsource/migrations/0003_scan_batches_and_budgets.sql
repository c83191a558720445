-- When the contract's current scan was asked for (its submission, a refresh, a resubmission after ERROR):
-- retries and sweeps leave it, so the age of the oldest waiting contract is its caller's wait.
ALTER TABLE contracts ADD COLUMN queued_at DATETIME(6) NULL;
UPDATE contracts SET queued_at = updated_at;
ALTER TABLE contracts MODIFY queued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6);
CREATE INDEX contracts_status_queued ON contracts (status, queued_at);

-- The scanner batch that holds a PROCESS row: a batch claims many rows in one statement and reads back which
-- are its own, and settles only those (a row another scanner took over after the lease is not overwritten).
ALTER TABLE contracts ADD COLUMN claim BINARY(16) NULL;

-- Where the source came from, and Sourcify's kind of match.
ALTER TABLE contracts ADD COLUMN provider VARCHAR(16) NULL;
ALTER TABLE contracts ADD COLUMN source_match VARCHAR(16) NULL;
UPDATE contracts SET provider = 'etherscan' WHERE status = 'SUCCESS';

-- The rate budgets every scanner instance shares: each key is leased to one scanner process at a time, which
-- paces its calls; times are microseconds since the epoch on this database's clock.
CREATE TABLE rate_budget_keys (
    budget      VARCHAR(64) NOT NULL,
    key_id      CHAR(16) NOT NULL,
    holder      BINARY(16) NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    free_from   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (budget, key_id)
) ENGINE=InnoDB;
