-- Queries of the poll job (service.execution.poller).
-- Correctness on many replicas lives here: rows are claimed with
-- FOR UPDATE SKIP LOCKED and a lease, and every result write is guarded by the
-- claimer's lease_token. Order rows are always locked before execution rows
-- are written, and the claim never locks an order, so no two transactions of
-- these queries can wait on each other in a cycle.

-- name: execution_claim
-- transition: item Pending -> In Progress
-- $1 batch size, $2 lease seconds, $3 this claim's token, $4 items already
-- handled in this tick (each item gets at most one outbound call per tick).
-- attempts counts the calls made for the item's current step; a success
-- resets it, so it drives the retry backoff.
WITH due AS (
    SELECT e.item_id, e.status AS was
    FROM executions e
    WHERE e.status IN ('Pending', 'In Progress')
      AND e.next_attempt_at <= now()
      AND (e.lease_until IS NULL OR e.lease_until < now())
      AND NOT (e.item_id = ANY ($4::bigint[]))
    ORDER BY e.next_attempt_at, e.item_id
    LIMIT $1::integer
    FOR UPDATE OF e SKIP LOCKED
),
claimed AS (
    UPDATE executions e
    SET lease_until = now() + make_interval(secs => $2::double precision),
        lease_token = $3::uuid,
        attempts = e.attempts + 1,
        status = 'In Progress',
        started_at = coalesce(e.started_at, now()),
        updated_at = now()
    FROM due
    WHERE e.item_id = due.item_id
    RETURNING e.item_id, e.order_id, e.operation_id, e.attempts, e.deadline_at, e.message,
              e.deadline_at <= now() AS overdue, due.was, e.subscription_id
),
started AS (
    -- subscriptionId: a change item's record names its subscription from checkout on.
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT o.reseller_id, o.id, o.account_id, 'item.status_changed', 'system',
           jsonb_build_object('itemId', c.item_id, 'from', 'Pending', 'to', 'In Progress',
                              'message', NULL, 'subscriptionId', c.subscription_id)
    FROM claimed c JOIN orders o ON o.id = c.order_id
    WHERE c.was = 'Pending'
    ORDER BY c.item_id
)
SELECT c.item_id, c.order_id, c.operation_id, c.attempts, c.deadline_at, c.message, c.overdue,
       o.account_id, i.sku, i.quantity, i.billing_cycle, i.characteristics, p.fulfillment, i.action,
       -- What the connector knows the changed subscription by: its own id when it gave one.
       CASE WHEN i.action <> 'purchase' THEN coalesce(s.external_id, s.id::text) END AS subscription_ref
FROM claimed c
JOIN order_items i ON i.id = c.item_id
JOIN orders o ON o.id = c.order_id
JOIN products p ON p.id = i.product_id
LEFT JOIN subscriptions s ON s.id = i.subscription_id
ORDER BY c.item_id;

-- name: execution_order_lock
-- Taken before writing an item's result and before recomputing the order's
-- status: the recompute that follows reads the items in a fresh snapshot, so
-- two workers finishing the last two items of one order cannot both see the
-- other one unfinished.
SELECT id FROM orders WHERE id = $1::bigint FOR UPDATE;

-- name: execution_submitted
-- $1 item, $2 lease token, $3 operation id. Due again at once: the next tick polls it.
UPDATE executions
SET operation_id = $3::text,
    attempts = 0,
    next_attempt_at = now(),
    lease_until = NULL,
    lease_token = NULL,
    updated_at = now()
WHERE item_id = $1::bigint AND lease_token = $2::uuid AND status = 'In Progress'
RETURNING item_id;

-- name: execution_still_running
-- $1 item, $2 lease token, $3 message from the connector (may be null).
UPDATE executions
SET message = $3::text,
    attempts = 0,
    next_attempt_at = now(),
    lease_until = NULL,
    lease_token = NULL,
    updated_at = now()
WHERE item_id = $1::bigint AND lease_token = $2::uuid AND status = 'In Progress'
RETURNING item_id;

-- name: execution_finished
-- transition: item In Progress -> Completed
-- transition: item In Progress -> Failed
-- $1 item, $2 lease token, $3 'Completed' or 'Failed', $4 message.
-- subscription_apply follows in the same transaction. The record names the
-- item's subscription by our id, as text: a completed purchase's is drawn
-- here (subscription_apply creates it under that id), a change's is the one it
-- names; a failed purchase names none.
WITH finished AS (
    UPDATE executions e
    SET status = $3::text,
        subscription_id = CASE WHEN $3::text = 'Completed' AND i.action = 'purchase'
                               THEN nextval(pg_get_serial_sequence('subscriptions', 'id'))::text
                               ELSE i.subscription_id::text END,
        message = $4::text,
        lease_until = NULL,
        lease_token = NULL,
        completed_at = now(),
        updated_at = now()
    FROM order_items i
    WHERE e.item_id = $1::bigint AND e.lease_token = $2::uuid AND e.status = 'In Progress'
      AND $3::text IN ('Completed', 'Failed')
      AND i.order_id = e.order_id AND i.id = e.item_id
    RETURNING e.item_id, e.order_id, e.status, e.message, e.subscription_id
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT o.reseller_id, o.id, o.account_id, 'item.status_changed', 'system',
           jsonb_build_object('itemId', f.item_id, 'from', 'In Progress', 'to', f.status,
                              'message', f.message, 'subscriptionId', f.subscription_id)
    FROM finished f JOIN orders o ON o.id = f.order_id
)
SELECT item_id FROM finished;

-- name: execution_retry_later
-- $1 item, $2 lease token, $3 delay seconds, $4 why. Never later than the
-- deadline, so an item that keeps failing is failed on time.
UPDATE executions
SET message = $4::text,
    next_attempt_at = least(now() + make_interval(secs => $3::double precision), deadline_at),
    lease_until = NULL,
    lease_token = NULL,
    updated_at = now()
WHERE item_id = $1::bigint AND lease_token = $2::uuid AND status = 'In Progress'
RETURNING item_id, next_attempt_at;

-- name: execution_release
-- On shutdown: hand claimed-but-unfinished items back at once instead of
-- letting them wait for the lease to run out. The unused attempt is given back.
UPDATE executions
SET lease_until = NULL,
    lease_token = NULL,
    attempts = greatest(attempts - 1, 0),
    updated_at = now()
WHERE item_id = ANY ($1::bigint[]) AND lease_token = $2::uuid
RETURNING item_id;

-- name: execution_order_refresh
-- transition: Pending -> In Progress
-- transition: Pending -> Completed
-- transition: Pending -> Partially Completed
-- transition: Pending -> Failed
-- transition: In Progress -> Completed
-- transition: In Progress -> Partially Completed
-- transition: In Progress -> Failed
-- Recompute an executing order's status from its items; run after
-- execution_order_lock in the same transaction. Returns the row only when the
-- status changed.
WITH counts AS (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'Completed') AS completed,
           count(*) FILTER (WHERE status = 'Failed') AS failed,
           count(*) FILTER (WHERE status <> 'Pending') AS started
    FROM executions
    WHERE order_id = $1::bigint
),
next AS (
    SELECT CASE
               WHEN completed + failed = total AND failed = 0 THEN 'Completed'
               WHEN completed + failed = total AND completed = 0 THEN 'Failed'
               WHEN completed + failed = total THEN 'Partially Completed'
               WHEN started > 0 THEN 'In Progress'
               ELSE 'Pending'
           END AS status,
           completed + failed = total AS final
    FROM counts
    WHERE total > 0
),
changed AS (
    UPDATE orders o
    SET status = next.status,
        started_at = CASE WHEN next.status <> 'Pending' THEN coalesce(o.started_at, now()) END,
        completed_at = CASE WHEN next.final THEN coalesce(o.completed_at, now()) END,
        updated_at = now()
    FROM next, (SELECT status AS was FROM orders WHERE id = $1::bigint) before
    WHERE o.id = $1::bigint
      AND o.status IN ('Pending', 'In Progress')
      AND o.status <> next.status
    RETURNING o.id, o.reseller_id, o.account_id, o.status, before.was
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT reseller_id, id, account_id, 'order.status_changed', 'system',
           jsonb_build_object('from', was, 'to', status)
    FROM changed
)
SELECT id, status FROM changed;
