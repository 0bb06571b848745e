-- Queries of the expiry job (service.execution.expiry).

-- name: expiry_delete_batch
-- $1 batch size. Deletes up to $1 expired drafts; items, executions and values
-- go with them (ON DELETE CASCADE). FOR UPDATE SKIP LOCKED passes over a draft
-- a checkout is changing right now, and the DELETE re-checks status = 'Draft',
-- so an order that stopped being a draft is never deleted: a checkout racing
-- with this either wins fully or finds the draft gone. current_date is UTC
-- (the pool sets the session time zone).
WITH doomed AS (
    SELECT id
    FROM orders
    WHERE status = 'Draft' AND expiration_date < current_date
    ORDER BY expiration_date, id
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM orders o
    USING doomed
    WHERE o.id = doomed.id AND o.status = 'Draft' AND o.expiration_date < current_date
    RETURNING o.id
)
SELECT count(*)::integer AS deleted FROM deleted;
