-- Ending a transaction that service.db.Database began with a script
-- (Database.scripted): asyncpg's own Transaction did not begin it, so it is
-- ended by these.

-- name: transaction_rollback
ROLLBACK;
