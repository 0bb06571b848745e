-- What a reseller may choose from: its accounts and the product catalog.

-- name: accounts_page
SELECT id, name, type, approval_required FROM accounts
WHERE reseller_id = $1::bigint AND ($2::bigint IS NULL OR id > $2::bigint)
ORDER BY id
LIMIT $3::integer;

-- name: account_get
SELECT id, name, type, approval_required FROM accounts
WHERE id = $1::bigint AND reseller_id = $2::bigint;

-- name: account_set_approval
-- $3 true or false decides for the account's orders; NULL follows the reseller's setting.
UPDATE accounts SET approval_required = $3::boolean
WHERE id = $1::bigint AND reseller_id = $2::bigint
RETURNING id, name, type, approval_required;

-- name: products_page
SELECT id, sku, name, billing_cycles, unit_prices, currency, characteristics FROM products
WHERE ($1::bigint IS NULL OR id > $1::bigint)
ORDER BY id
LIMIT $2::integer;

-- name: product_get
-- What an item copies from its product (service.domain.items, which keeps it:
-- none of these columns is ever updated).
SELECT id, sku, name, billing_cycles, unit_prices, currency, characteristics FROM products
WHERE id = $1::bigint;
