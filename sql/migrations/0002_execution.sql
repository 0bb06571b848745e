-- Lease ownership for the poll job. lease_until alone says *when* a claim
-- ends; lease_token says *whose* claim it is, so a worker that was slow (or
-- paused, or partitioned) past its lease cannot overwrite the result of the
-- worker that claimed the row after it: every result write is guarded by it.
ALTER TABLE executions ADD COLUMN lease_token uuid;
