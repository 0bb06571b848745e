-- What a reseller may choose from: its accounts and the product catalog.

-- name: accounts_page
SELECT id, name, type FROM accounts
WHERE reseller_id = $1::bigint AND ($2::bigint IS NULL OR id > $2::bigint)
ORDER BY id
LIMIT $3::integer;

-- name: products_page
SELECT id, sku, name, billing_cycles, unit_prices, currency, characteristics FROM products
WHERE ($1::bigint IS NULL OR id > $1::bigint)
ORDER BY id
LIMIT $2::integer;

-- name: product_get
SELECT id, sku, name, billing_cycles, unit_prices, currency, characteristics FROM products
WHERE id = $1::bigint;
