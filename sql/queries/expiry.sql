-- Queries of the expiry job (service.execution.expiry).

-- name: expiry_delete_batch
-- $1 batch size, $2 the last id the previous batch of this run claimed (0 to
-- start). Deletes up to $1 expired drafts in id order after $2 (over
-- orders_draft_walk_idx, see migration 0009); items, executions and values go
-- with them (ON DELETE CASCADE), and each leaves an order.expired event,
-- which outlives it. FOR UPDATE SKIP LOCKED passes over a draft a checkout is
-- changing right now (the next run retries it), and the DELETE re-checks
-- status = 'Draft', so an order that stopped being a draft is never deleted:
-- a checkout racing with this either wins fully or finds the draft gone.
-- current_date is UTC (the pool sets the session time zone). Returns how many
-- were deleted and the last id claimed, where the next batch starts. Run with
-- Database.fetch_planned: a generic plan would scan all orders to delete.
WITH doomed AS (
    SELECT id
    FROM orders
    WHERE status = 'Draft' AND expiration_date < current_date AND id > $2::bigint
    ORDER BY id
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM orders o
    USING doomed
    WHERE o.id = doomed.id AND o.status = 'Draft' AND o.expiration_date < current_date
    RETURNING o.id, o.reseller_id, o.account_id, o.expiration_date
),
events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT reseller_id, id, account_id, 'order.expired', 'system',
           jsonb_build_object('expirationDate', expiration_date)
    FROM deleted
    ORDER BY id
)
SELECT (SELECT count(*) FROM deleted)::integer AS deleted, (SELECT max(id) FROM doomed) AS last_id;
