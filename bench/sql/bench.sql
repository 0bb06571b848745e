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

-- name: ceiling_add_item
-- What the service's item_add writes (the order's totals, the item, its
-- order.item_added event), in one statement that also reads the product the
-- service reads first (product_get). The ceiling's create and checkout run the
-- service's own statements (order_create, order_checkout): every write step of
-- the ceiling writes exactly the rows the service's does.
WITH product AS (
    SELECT id, sku, name, currency, (unit_prices ->> $4::text)::numeric AS unit_price
    FROM products WHERE id = $3::bigint AND $4::text = ANY (billing_cycles)
), draft AS (
    UPDATE visible_orders o
    SET total = total + p.unit_price * $5::integer, item_count = item_count + 1,
        currency = p.currency, updated_at = now()
    FROM product p
    WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint AND o.status = 'Draft'
      AND (o.currency IS NULL OR o.currency = p.currency)
    RETURNING o.id, o.account_id
), item AS (
    INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                             billing_cycle, unit_price, total_price, currency, characteristics,
                             action, subscription_id)
    SELECT draft.id, $2::bigint, p.id, p.sku, p.name, $5::integer, $4::text, p.unit_price,
           p.unit_price * $5::integer, p.currency, '{}'::jsonb, 'purchase', NULL
    FROM draft, product p
    RETURNING id, order_id, action, product_id, sku, product_name, quantity, billing_cycle,
              unit_price, total_price, subscription_id
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT $2::bigint, draft.id, draft.account_id, 'order.item_added', 'client', $6::text,
           jsonb_build_object('itemId', item.id)
    FROM draft, item
)
SELECT id, order_id, action, product_id, sku, product_name, quantity, billing_cycle,
       unit_price, total_price, subscription_id::text AS subscription_id
FROM item;

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
