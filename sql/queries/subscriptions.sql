-- Subscriptions (service.domain.subscriptions): what completed purchases
-- became, read by their reseller, claimed by the checkout of a change, and
-- created or changed in the transaction that finishes an item.

-- The pages share their parameters: $1 reseller, $2 status or NULL, $3 $4
-- the keyset position (created_at, id) of the previous page's last row or
-- NULLs, $5 the page size (+1). Newest first: created_at, then id, descending.
-- One statement per index, as the order lists do, so a deep page starts where
-- it should in the index instead of filtering its way down.

-- name: subscriptions_page
-- Every subscription of the tenant, over (reseller_id, created_at, id).
SELECT s.id, s.account_id, a.name AS account_name, s.product_id, s.sku, s.product_name,
       s.quantity, s.billing_cycle, s.unit_price, s.currency, s.status, s.external_id,
       s.order_id, s.item_id, s.created_at, s.updated_at, s.cancelled_at
FROM subscriptions s JOIN accounts a ON a.id = s.account_id
WHERE s.reseller_id = $1::bigint
  AND ($2::text IS NULL OR s.status = $2::text)
  AND (s.created_at, s.id) < (coalesce($3::timestamptz, 'infinity'::timestamptz),
                              coalesce($4::bigint, 9223372036854775807))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5::integer;

-- name: subscriptions_page_product
-- Of one product ($6), over (reseller_id, product_id, created_at, id).
SELECT s.id, s.account_id, a.name AS account_name, s.product_id, s.sku, s.product_name,
       s.quantity, s.billing_cycle, s.unit_price, s.currency, s.status, s.external_id,
       s.order_id, s.item_id, s.created_at, s.updated_at, s.cancelled_at
FROM subscriptions s JOIN accounts a ON a.id = s.account_id
WHERE s.reseller_id = $1::bigint AND s.product_id = $6::bigint
  AND ($2::text IS NULL OR s.status = $2::text)
  AND (s.created_at, s.id) < (coalesce($3::timestamptz, 'infinity'::timestamptz),
                              coalesce($4::bigint, 9223372036854775807))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5::integer;

-- name: subscriptions_page_account
-- Of one account ($6), and of one product ($7) or any, over (account_id, created_at, id).
SELECT s.id, s.account_id, a.name AS account_name, s.product_id, s.sku, s.product_name,
       s.quantity, s.billing_cycle, s.unit_price, s.currency, s.status, s.external_id,
       s.order_id, s.item_id, s.created_at, s.updated_at, s.cancelled_at
FROM subscriptions s JOIN accounts a ON a.id = s.account_id
WHERE s.account_id = $6::bigint AND s.reseller_id = $1::bigint
  AND ($7::bigint IS NULL OR s.product_id = $7::bigint)
  AND ($2::text IS NULL OR s.status = $2::text)
  AND (s.created_at, s.id) < (coalesce($3::timestamptz, 'infinity'::timestamptz),
                              coalesce($4::bigint, 9223372036854775807))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5::integer;

-- name: subscription_get
SELECT s.id, s.account_id, a.name AS account_name, s.product_id, s.sku, s.product_name,
       s.quantity, s.billing_cycle, s.unit_price, s.currency, s.status, s.external_id,
       s.order_id, s.item_id, s.created_at, s.updated_at, s.cancelled_at
FROM subscriptions s JOIN accounts a ON a.id = s.account_id
WHERE s.id = $1::bigint AND s.reseller_id = $2::bigint;

-- name: subscription_for_change
-- What a change item of order $3 takes from subscription $1 of reseller $2
-- (and the product's characteristics, which it may carry to the connector),
-- and what its rules need: whether it is of the order's account, and whether
-- the order already names it. The order's visibility was checked before.
SELECT s.id, s.account_id, s.status, s.product_id, s.sku, s.product_name, s.quantity,
       s.billing_cycle, s.unit_price, s.currency, p.characteristics AS definitions,
       s.account_id = o.account_id AS same_account,
       EXISTS (SELECT FROM order_items i
               WHERE i.order_id = o.id AND i.subscription_id = s.id AND i.reseller_id = $2::bigint) AS in_order
FROM subscriptions s
JOIN products p ON p.id = s.product_id
LEFT JOIN visible_orders o ON o.id = $3::bigint AND o.reseller_id = $2::bigint
WHERE s.id = $1::bigint AND s.reseller_id = $2::bigint;

-- name: subscriptions_claim
-- Checkout (and only checkout) of order $1 of reseller $2, under the order's
-- lock, before order_checkout in the same transaction: every subscription a
-- change item of the order names is claimed for it, or the caller rolls back.
-- The guard against two pending changes of one subscription is here: the rows
-- are locked in id order (no deadlock between checkouts naming several), and
-- the lock hands back each row as the last committed change left it, so a
-- checkout that waited for another's lock sees that one's claim and claims
-- nothing. A row is claimed only when Active and unclaimed; the caller answers
-- 422 (not Active) or 409 subscription_change_pending for the rest.
WITH locked AS (
    SELECT s.id, s.status, s.pending_order_id
    FROM subscriptions s
    WHERE s.reseller_id = $2::bigint
      AND s.id IN (SELECT i.subscription_id FROM order_items i
                   WHERE i.order_id = $1::bigint AND i.reseller_id = $2::bigint AND i.action <> 'purchase')
    ORDER BY s.id
    FOR NO KEY UPDATE OF s
), claimed AS (
    UPDATE subscriptions s SET pending_order_id = $1::bigint
    FROM locked l
    WHERE s.id = l.id AND l.status = 'Active'
      AND l.pending_order_id IS NULL
    RETURNING s.id
)
SELECT i.id AS item_id, l.id AS subscription_id, l.status, l.pending_order_id,
       c.id IS NOT NULL AS claimed
FROM locked l
JOIN order_items i ON i.order_id = $1::bigint AND i.subscription_id = l.id
LEFT JOIN claimed c ON c.id = l.id
ORDER BY i.id;

-- name: subscription_apply
-- transition: subscription Active -> Cancelled
-- The poll job, right after execution_finished wrote item $1 as $2
-- ('Completed' or 'Failed'), in the same transaction (after
-- execution_order_lock): run only when that statement wrote the item, so at
-- most once per item. $3 the connector's subscriptionId (may be null). A
-- completed purchase creates its subscription under the id execution_finished
-- drew for it, and the item names it; a completed change sets the quantity or
-- cancels; a change that failed leaves the subscription as it was. Either way
-- a change's claim ends.
WITH item AS (
    SELECT i.id, i.order_id, i.reseller_id, i.action, i.subscription_id, i.product_id, i.sku,
           i.product_name, i.quantity, i.billing_cycle, i.unit_price, i.currency, o.account_id,
           e.subscription_id::bigint AS drawn
    FROM executions e
    JOIN order_items i ON i.order_id = e.order_id AND i.id = e.item_id
    JOIN orders o ON o.id = e.order_id
    WHERE e.item_id = $1::bigint AND e.status = $2::text AND $2::text IN ('Completed', 'Failed')
), created AS (
    INSERT INTO subscriptions (id, reseller_id, account_id, product_id, sku, product_name, quantity,
                               billing_cycle, unit_price, currency, external_id, order_id, item_id)
    OVERRIDING SYSTEM VALUE
    SELECT drawn, reseller_id, account_id, product_id, sku, product_name, quantity, billing_cycle,
           unit_price, currency, $3::text, order_id, id
    FROM item
    WHERE action = 'purchase' AND $2::text = 'Completed'
    RETURNING id, reseller_id, account_id, order_id, item_id, product_id, quantity
), named AS (
    UPDATE order_items i SET subscription_id = c.id
    FROM created c
    WHERE i.order_id = c.order_id AND i.id = c.item_id
), before AS (
    SELECT s.id, s.quantity
    FROM subscriptions s JOIN item ON s.id = item.subscription_id
    WHERE item.action <> 'purchase' AND s.reseller_id = item.reseller_id
    FOR NO KEY UPDATE OF s
), changed AS (
    UPDATE subscriptions s
    SET status = CASE WHEN $2::text = 'Completed' AND item.action = 'cancel' THEN 'Cancelled' ELSE s.status END,
        quantity = CASE WHEN $2::text = 'Completed' AND item.action = 'changeQuantity'
                        THEN item.quantity ELSE s.quantity END,
        cancelled_at = CASE WHEN $2::text = 'Completed' AND item.action = 'cancel' THEN now()
                            ELSE s.cancelled_at END,
        external_id = CASE WHEN $2::text = 'Completed' THEN coalesce(s.external_id, $3::text)
                           ELSE s.external_id END,
        updated_at = CASE WHEN $2::text = 'Completed' THEN now() ELSE s.updated_at END,
        pending_order_id = NULL
    FROM item, before
    WHERE s.id = before.id AND s.status = 'Active' AND s.pending_order_id = item.order_id
    RETURNING s.id, s.reseller_id, s.account_id, s.quantity, s.status, item.action, item.order_id,
              before.quantity AS was
), events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT reseller_id, order_id, account_id, 'subscription.created', 'system',
           jsonb_build_object('subscriptionId', id::text, 'itemId', item_id, 'productId', product_id,
                              'quantity', quantity)
    FROM created
    UNION ALL
    SELECT reseller_id, order_id, account_id, 'subscription.changed', 'system',
           jsonb_build_object('subscriptionId', id::text, 'from', jsonb_build_object('quantity', was),
                              'to', jsonb_build_object('quantity', quantity))
    FROM changed
    WHERE $2::text = 'Completed' AND action = 'changeQuantity'
    UNION ALL
    SELECT reseller_id, order_id, account_id, 'subscription.cancelled', 'system',
           jsonb_build_object('subscriptionId', id::text)
    FROM changed
    WHERE $2::text = 'Completed' AND action = 'cancel'
)
SELECT (SELECT id FROM created) AS created, (SELECT id FROM changed) AS changed;
