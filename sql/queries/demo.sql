-- The demo seed (`serve --demo`), idempotent and safe when replicas start together.

-- name: demo_lock
SELECT pg_advisory_xact_lock(hashtext('reseller-ordering-demo-seed')::bigint);

-- name: demo_reseller
SELECT r.id, r.name, r.edition, a.id AS account_id
FROM resellers r JOIN accounts a ON a.reseller_id = r.id AND a.type = 'Reseller'
WHERE r.name = $1::text
ORDER BY r.id
LIMIT 1;

-- name: demo_product_point_at
-- The reference connector listens on a new port each start; keep its product pointing there.
UPDATE products SET fulfillment = $2::jsonb WHERE sku = $1::text
RETURNING id;

-- name: demo_webhook_point_at
-- $1 reseller, $2 the demo webhook's description, $3 this start's receiver URL.
-- The receiver listens on a new port each start; keep the webhook pointing there.
UPDATE webhooks SET url = $3::text, enabled = true, failing_since = NULL, updated_at = now()
WHERE id = (SELECT min(id) FROM webhooks WHERE reseller_id = $1::bigint AND description = $2::text)
RETURNING id, reseller_id, signing_secret;
