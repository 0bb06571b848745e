-- Items of one order of one reseller; the order's scope is in every WHERE.

-- name: items_page
SELECT i.id, i.order_id, i.action, i.product_id, i.sku, i.product_name, i.quantity, i.billing_cycle,
       i.unit_price, i.total_price, e.status, i.subscription_id::text AS subscription_id
FROM order_items i
JOIN visible_orders o ON o.id = i.order_id
LEFT JOIN executions e ON e.item_id = i.id
WHERE i.order_id = $1::bigint AND o.reseller_id = $2::bigint
  AND ($3::bigint IS NULL OR i.id > $3::bigint)
ORDER BY i.id
LIMIT $4::integer;

-- name: item_get
SELECT i.id, i.order_id, i.action, i.product_id, i.sku, i.product_name, i.quantity, i.billing_cycle,
       i.unit_price, i.total_price, e.status, i.subscription_id::text AS subscription_id
FROM order_items i
JOIN visible_orders o ON o.id = i.order_id
LEFT JOIN executions e ON e.item_id = i.id
WHERE i.id = $3::bigint AND i.order_id = $1::bigint AND o.reseller_id = $2::bigint;

-- name: item_add
-- One statement: the guarded UPDATE locks the order while it is a Draft of
-- this reseller in this currency (or none yet), and the item is inserted only
-- through it, so an add racing a checkout either lands before it or not at all.
-- $11 the client adding it, $12 the item's action, $13 the subscription a
-- change item names (NULL for a purchase); a second item naming one
-- subscription in one order breaks order_items_subscription_idx.
WITH draft AS (
    UPDATE visible_orders
    SET total = total + $8::numeric * $6::integer, item_count = item_count + 1,
        currency = $9::text, updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Draft'
      AND (currency IS NULL OR currency = $9::text)
    RETURNING id, account_id
), item AS (
    INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                             billing_cycle, unit_price, total_price, currency, characteristics,
                             action, subscription_id)
    SELECT draft.id, $2::bigint, $3::bigint, $4::text, $5::text, $6::integer,
           $7::text, $8::numeric, $8::numeric * $6::integer, $9::text, $10::jsonb,
           $12::text, $13::bigint
    FROM draft
    RETURNING id, order_id, action, product_id, sku, product_name, quantity, billing_cycle,
              unit_price, total_price, subscription_id
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT $2::bigint, draft.id, draft.account_id, 'order.item_added', 'client', $11::text,
           jsonb_build_object('itemId', item.id)
    FROM draft, item
)
SELECT id, order_id, action, product_id, sku, product_name, quantity, billing_cycle,
       unit_price, total_price, NULL::text AS status, subscription_id::text AS subscription_id
FROM item;

-- name: item_delete
-- Under the order's lock. $3 the client deleting it.
WITH deleted AS (
    DELETE FROM order_items WHERE id = $2::bigint AND order_id = $1::bigint
    RETURNING id, order_id, reseller_id
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT d.reseller_id, d.order_id, o.account_id, 'order.item_removed', 'client', $3::text,
           jsonb_build_object('itemId', d.id)
    FROM deleted d JOIN orders o ON o.id = d.order_id
)
SELECT id FROM deleted;

-- name: item_characteristics
SELECT i.characteristics AS item_values, p.characteristics AS definitions
FROM order_items i
JOIN visible_orders o ON o.id = i.order_id
JOIN products p ON p.id = i.product_id
WHERE i.id = $3::bigint AND i.order_id = $1::bigint AND o.reseller_id = $2::bigint;

-- name: item_set_characteristics
-- Under the order's lock, after validation. $4 the names changed, $5 client.
-- The order's row is written too, though nothing of the order changes (a new
-- row version): order_checkout, checking without the lock, then sees that
-- the order changed since its snapshot.
WITH changed AS (
    UPDATE order_items
    SET characteristics = jsonb_strip_nulls(characteristics || $3::jsonb)
    WHERE id = $2::bigint AND order_id = $1::bigint
    RETURNING id, order_id, reseller_id, characteristics
), touched AS (
    UPDATE orders SET item_count = item_count
    WHERE id = (SELECT order_id FROM changed)
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT c.reseller_id, c.order_id, o.account_id, 'order.values_changed', 'client', $5::text,
           jsonb_build_object('itemId', c.id, 'characteristics', $4::text[])
    FROM changed c JOIN orders o ON o.id = c.order_id
)
SELECT characteristics FROM changed;
