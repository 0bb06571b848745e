-- Orders of one reseller. Every query is scoped by reseller_id, and a Draft
-- past its expirationDate is invisible from the day after, whether or not the
-- expiry job has deleted it yet.

-- name: order_create
WITH account AS (
    SELECT id, name FROM accounts WHERE id = $2::bigint AND reseller_id = $1::bigint
), inserted AS (
    INSERT INTO orders (reseller_id, account_id, order_date, expiration_date, notes)
    SELECT $1::bigint, account.id, $3::date, $3::date + 7, $4::text FROM account
    RETURNING *
)
SELECT o.id, o.account_id, account.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at, o.started_at, o.completed_at
FROM inserted o, account;

-- name: order_get
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at, o.started_at, o.completed_at
FROM orders o JOIN accounts a ON a.id = o.account_id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date);

-- name: orders_page
-- $2 is the stage ('all' | 'draft' | 'confirmed'); the optional filters are
-- NULL when absent. Plans are made per call (plan_cache_mode), so the unused
-- branches fold away and the matching index is used.
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at
FROM orders o JOIN accounts a ON a.id = o.account_id
WHERE o.reseller_id = $1::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date)
  AND ($2::text = 'all'
       OR ($2::text = 'draft' AND o.status = 'Draft')
       OR ($2::text = 'confirmed'
           AND o.status NOT IN ('Draft', 'Reseller Pending Approval', 'Cancelled by Reseller')))
  AND ($3::bigint IS NULL OR o.account_id = $3::bigint)
  AND ($4::text IS NULL OR o.status = $4::text)
  AND ($5::date IS NULL OR o.order_date >= $5::date)
  AND ($6::date IS NULL OR o.order_date <= $6::date)
  AND ($7::date IS NULL OR (o.order_date, o.id) < ($7::date, $8::bigint))
ORDER BY o.order_date DESC, o.id DESC
LIMIT $9::integer;

-- name: order_lock
-- Taken first by every write to a Draft: it serialises item changes, value
-- changes and checkout of one order.
SELECT id, status, currency, custom_fields FROM orders
WHERE id = $1::bigint AND reseller_id = $2::bigint
  AND (status <> 'Draft' OR expiration_date >= current_date)
FOR UPDATE;

-- name: order_state
SELECT status, currency FROM orders
WHERE id = $1::bigint AND reseller_id = $2::bigint
  AND (status <> 'Draft' OR expiration_date >= current_date);

-- name: order_refresh_totals
UPDATE orders o
SET total = t.total, item_count = t.item_count, currency = t.currency, updated_at = now()
FROM (
    SELECT coalesce(sum(total_price), 0) AS total, count(*)::integer AS item_count,
           min(currency) AS currency
    FROM order_items WHERE order_id = $1::bigint
) t
WHERE o.id = $1::bigint;

-- name: order_checkout
-- Under the order's lock: leave Draft and create one execution record per
-- item (the poll job takes it from there); answer the order as it now is.
WITH confirmed AS (
    UPDATE orders
    SET status = 'Pending', checked_out_at = now(), expiration_date = NULL, updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Draft'
    RETURNING *
), records AS (
    INSERT INTO executions (item_id, order_id, deadline_at)
    SELECT i.id, i.order_id, now() + make_interval(secs => $3::double precision)
    FROM order_items i JOIN confirmed ON confirmed.id = i.order_id
)
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at, o.started_at, o.completed_at
FROM confirmed o JOIN accounts a ON a.id = o.account_id;

-- name: order_execution
-- An order and its execution records in one round trip, the records as
-- parallel arrays (NULL when there are none).
SELECT o.id, o.status, o.updated_at, o.started_at, o.completed_at,
       array_agg(e.item_id ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS item_ids,
       array_agg(e.status ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS statuses,
       array_agg(e.message ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS messages,
       array_agg(e.subscription_id ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS subscription_ids,
       array_agg(e.updated_at ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS updated
FROM orders o
LEFT JOIN executions e ON e.order_id = o.id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date)
GROUP BY o.id;

-- name: order_set_custom_fields
UPDATE orders
SET custom_fields = jsonb_strip_nulls(custom_fields || $2::jsonb), updated_at = now()
WHERE id = $1::bigint AND status = 'Draft'
RETURNING custom_fields;

-- name: customfields_published
SELECT name, label, type, required, options FROM custom_field_definitions
WHERE reseller_id = $1::bigint AND published_to_storefront
ORDER BY name;

-- name: order_custom_fields
SELECT custom_fields FROM orders
WHERE id = $1::bigint AND reseller_id = $2::bigint
  AND (status <> 'Draft' OR expiration_date >= current_date);
