-- Queries of the benchmark harness: the ceiling server's one-statement answers,
-- the loader's bookkeeping and the stand-in expiry job. Loaded with
-- service.db.load_queries, so they follow the project's `-- name:` format.

-- name: ceiling_ready
SELECT coalesce(max(version), 0) AS version FROM schema_migrations;

-- name: ceiling_execution_status
SELECT o.id, o.status, o.started_at, o.completed_at, o.updated_at,
       coalesce(json_agg(json_build_object(
                    'itemId', e.item_id, 'status', e.status, 'message', e.message,
                    'subscriptionId', e.subscription_id, 'updatedAt', e.updated_at)
                ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL), '[]') AS items
FROM orders o LEFT JOIN executions e ON e.order_id = o.id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
GROUP BY o.id;

-- name: ceiling_create_order
WITH account AS (
    SELECT id, name FROM accounts WHERE id = $2::bigint AND reseller_id = $1::bigint
), created AS (
    INSERT INTO orders (reseller_id, account_id, status, order_date, expiration_date)
    SELECT $1::bigint, account.id, 'Draft', current_date, current_date + 7 FROM account
    RETURNING *
)
SELECT created.id, created.account_id, account.name AS account_name, created.status,
       created.order_date, created.expiration_date, created.currency, created.total,
       created.item_count, created.notes, created.created_at, created.updated_at,
       created.checked_out_at, created.submitted_by, created.decided_by,
       created.cancellation_reason
FROM created, account;

-- name: ceiling_add_item
WITH draft AS (
    SELECT id, reseller_id FROM orders
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Draft'
      AND expiration_date >= current_date
    FOR UPDATE
), product AS (
    SELECT id, sku, name, currency, (unit_prices ->> $4::text)::numeric AS unit_price
    FROM products WHERE id = $3::bigint AND $4::text = ANY (billing_cycles)
), item AS (
    INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                             billing_cycle, unit_price, total_price, currency)
    SELECT draft.id, draft.reseller_id, product.id, product.sku, product.name, $5::integer,
           $4::text, product.unit_price, product.unit_price * $5::integer, product.currency
    FROM draft, product
    RETURNING *
), totals AS (
    UPDATE orders SET item_count = item_count + 1, total = total + item.total_price,
                      currency = item.currency, updated_at = now()
    FROM item WHERE orders.id = item.order_id
)
SELECT id, order_id, product_id, sku, product_name, quantity, billing_cycle, unit_price,
       total_price
FROM item;

-- name: ceiling_checkout
-- The executions it creates are due in a day, so the service's poll job (the
-- only consumer of executions) does no work on the ceiling's behalf.
WITH confirmed AS (
    UPDATE orders SET status = 'Pending', expiration_date = NULL, checked_out_at = now(),
                      updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Draft' AND item_count > 0
    RETURNING *
), started AS (
    INSERT INTO executions (item_id, order_id, reseller_id, next_attempt_at, deadline_at)
    SELECT i.id, i.order_id, i.reseller_id, now() + interval '1 day', now() + interval '1 day'
    FROM order_items i JOIN confirmed ON i.order_id = confirmed.id
)
SELECT c.id, c.account_id, a.name AS account_name, c.status, c.order_date, c.expiration_date,
       c.currency, c.total, c.item_count, c.notes, c.created_at, c.updated_at, c.checked_out_at,
       c.submitted_by, c.decided_by, c.cancellation_reason
FROM confirmed c JOIN accounts a ON a.id = c.account_id;

-- name: loader_reserve_ids
-- $1 orders and $2 items (at most) about to be COPYed with explicit ids.
-- Requests of a write scenario can still be running when wrk has stopped, so
-- the block starts past the largest id and the identity with a margin for
-- them (none before the API ever inserted), and the identities are moved past
-- the block first: an API insert arriving during the COPY takes an id after it.
-- Returns the id before each block.
WITH o AS (
    SELECT greatest((SELECT coalesce(max(id), 0) FROM orders),
                    coalesce(pg_sequence_last_value(pg_get_serial_sequence('orders', 'id')::regclass), 0))
           + CASE WHEN pg_sequence_last_value(pg_get_serial_sequence('orders', 'id')::regclass) IS NULL
                  THEN 0 ELSE 1000 END AS base
), i AS (
    SELECT greatest((SELECT coalesce(max(id), 0) FROM order_items),
                    coalesce(pg_sequence_last_value(pg_get_serial_sequence('order_items', 'id')::regclass), 0))
           + CASE WHEN pg_sequence_last_value(pg_get_serial_sequence('order_items', 'id')::regclass) IS NULL
                  THEN 0 ELSE 5000 END AS base
)
SELECT setval(pg_get_serial_sequence('orders', 'id'), greatest(o.base + $1::bigint, 1)) - $1::bigint AS orders,
       setval(pg_get_serial_sequence('order_items', 'id'), greatest(i.base + $2::bigint, 1)) - $2::bigint AS items
FROM o, i;

-- name: loader_reserve_subscriptions
-- $1 subscriptions about to be COPYed with explicit ids: the identity is moved
-- past the block first (with a margin, when the service has created some), so
-- a purchase completing meanwhile takes an id after it. Returns the id before.
WITH s AS (
    SELECT greatest((SELECT coalesce(max(id), 0) FROM subscriptions),
                    coalesce(pg_sequence_last_value(pg_get_serial_sequence('subscriptions', 'id')::regclass), 0))
           + CASE WHEN pg_sequence_last_value(pg_get_serial_sequence('subscriptions', 'id')::regclass) IS NULL
                  THEN 0 ELSE 1000 END AS base
)
SELECT setval(pg_get_serial_sequence('subscriptions', 'id'), greatest(s.base + $1::bigint, 1)) - $1::bigint
FROM s;

-- name: bench_subscriptions_count
SELECT count(*) FROM subscriptions WHERE reseller_id = $1::bigint;

-- name: loader_reset_identities
-- COPY writes explicit ids; move the identities past them so the API's own
-- inserts do not collide. Never backwards: an insert still in flight may hold
-- an id past the largest committed one.
SELECT setval(pg_get_serial_sequence('resellers', 'id'), (SELECT max(id) FROM resellers)),
       setval(pg_get_serial_sequence('accounts', 'id'), (SELECT max(id) FROM accounts)),
       setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products)),
       setval(pg_get_serial_sequence('orders', 'id'), greatest(
           (SELECT max(id) FROM orders),
           pg_sequence_last_value(pg_get_serial_sequence('orders', 'id')::regclass))),
       setval(pg_get_serial_sequence('order_items', 'id'), greatest(
           (SELECT max(id) FROM order_items),
           pg_sequence_last_value(pg_get_serial_sequence('order_items', 'id')::regclass)));

-- name: loader_insert_credential
INSERT INTO credentials (client_id, reseller_id, secret_hash) VALUES ($1::text, $2::bigint, $3::text);

-- name: bench_orders_count
SELECT count(*) FROM orders WHERE reseller_id = $1::bigint;

-- name: bench_sample_order_ids
-- Confirmed orders of one tenant, for the read scenarios.
SELECT id FROM orders
WHERE reseller_id = $1::bigint AND status IN ('Completed', 'Partially Completed', 'Failed')
ORDER BY random() LIMIT $2::integer;

-- name: bench_count_expired_drafts
SELECT count(*) FROM orders WHERE status = 'Draft' AND expiration_date < current_date;

-- name: bench_delete_expired_drafts_batch
-- Stand-in for the service's expiry job until it lands: one batch, oldest first,
-- skipping rows a request holds; items and values go with the order (ON DELETE CASCADE).
WITH doomed AS (
    SELECT id FROM orders
    WHERE status = 'Draft' AND expiration_date < current_date
    ORDER BY expiration_date, id
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
)
DELETE FROM orders o USING doomed WHERE o.id = doomed.id;
