-- Items of one order of one reseller; the order's scope is in every WHERE.

-- name: items_page
SELECT i.id, i.order_id, i.product_id, i.sku, i.product_name, i.quantity, i.billing_cycle,
       i.unit_price, i.total_price, e.status, e.subscription_id
FROM order_items i
JOIN orders o ON o.id = i.order_id
LEFT JOIN executions e ON e.item_id = i.id
WHERE i.order_id = $1::bigint AND o.reseller_id = $2::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date)
  AND ($3::bigint IS NULL OR i.id > $3::bigint)
ORDER BY i.id
LIMIT $4::integer;

-- name: item_get
SELECT i.id, i.order_id, i.product_id, i.sku, i.product_name, i.quantity, i.billing_cycle,
       i.unit_price, i.total_price, e.status, e.subscription_id
FROM order_items i
JOIN orders o ON o.id = i.order_id
LEFT JOIN executions e ON e.item_id = i.id
WHERE i.id = $3::bigint AND i.order_id = $1::bigint AND o.reseller_id = $2::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date);

-- name: item_add
-- One statement: the guarded UPDATE locks the order while it is a Draft of
-- this reseller in this currency (or none yet), and the item is inserted only
-- through it, so an add racing a checkout either lands before it or not at all.
WITH draft AS (
    UPDATE orders
    SET total = total + $8::numeric * $6::integer, item_count = item_count + 1,
        currency = $9::text, updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Draft'
      AND expiration_date >= current_date AND (currency IS NULL OR currency = $9::text)
    RETURNING id
)
INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                         billing_cycle, unit_price, total_price, currency, characteristics)
SELECT draft.id, $2::bigint, $3::bigint, $4::text, $5::text, $6::integer,
       $7::text, $8::numeric, $8::numeric * $6::integer, $9::text, $10::jsonb
FROM draft
RETURNING id, order_id, product_id, sku, product_name, quantity, billing_cycle,
          unit_price, total_price, NULL::text AS status, NULL::text AS subscription_id;

-- name: item_delete
DELETE FROM order_items WHERE id = $2::bigint AND order_id = $1::bigint
RETURNING id;

-- name: item_characteristics
SELECT i.characteristics AS item_values, p.characteristics AS definitions
FROM order_items i
JOIN orders o ON o.id = i.order_id
JOIN products p ON p.id = i.product_id
WHERE i.id = $3::bigint AND i.order_id = $1::bigint AND o.reseller_id = $2::bigint
  AND (o.status <> 'Draft' OR o.expiration_date >= current_date);

-- name: item_set_characteristics
UPDATE order_items
SET characteristics = jsonb_strip_nulls(characteristics || $3::jsonb)
WHERE id = $2::bigint AND order_id = $1::bigint
RETURNING characteristics;

-- name: checkout_items
SELECT i.id, i.characteristics AS item_values, p.characteristics AS definitions
FROM order_items i JOIN products p ON p.id = i.product_id
WHERE i.order_id = $1::bigint
ORDER BY i.id;
