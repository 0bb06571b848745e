-- The operator API: resellers, customers, credentials, products, custom fields.

-- name: reseller_create
WITH reseller AS (
    INSERT INTO resellers (name, edition) VALUES ($1::text, $2::text)
    RETURNING id, name, edition
), account AS (
    INSERT INTO accounts (reseller_id, name, type)
    SELECT id, name, 'Reseller' FROM reseller
    RETURNING id
)
SELECT reseller.id, reseller.name, reseller.edition, account.id AS account_id,
       false AS approval_required
FROM reseller, account;

-- name: reseller_patch
-- Changes only the fields given (NULL: keep). Setting approvalRequired records
-- the operator as the one who changed the reseller's settings.
WITH reseller AS (
    UPDATE resellers
    SET edition = coalesce($2::text, edition),
        approval_required = coalesce($3::boolean, approval_required),
        settings_updated_at = CASE WHEN $3::boolean IS NULL THEN settings_updated_at ELSE now() END,
        settings_updated_by = CASE WHEN $3::boolean IS NULL THEN settings_updated_by ELSE 'operator' END,
        updated_at = now()
    WHERE id = $1::bigint
    RETURNING id, name, edition, approval_required
)
SELECT reseller.id, reseller.name, reseller.edition, a.id AS account_id, reseller.approval_required
FROM reseller JOIN accounts a ON a.reseller_id = reseller.id AND a.type = 'Reseller';

-- name: reseller_get
SELECT r.id, r.name, r.edition, a.id AS account_id, r.approval_required
FROM resellers r JOIN accounts a ON a.reseller_id = r.id AND a.type = 'Reseller'
WHERE r.id = $1::bigint;

-- name: reseller_settings
SELECT approval_required, settings_updated_at, settings_updated_by FROM resellers WHERE id = $1::bigint;

-- name: reseller_set_settings
-- $1 reseller, $2 approvalRequired, $3 who changes it (the clientId).
UPDATE resellers
SET approval_required = $2::boolean, settings_updated_at = now(), settings_updated_by = $3::text,
    updated_at = now()
WHERE id = $1::bigint
RETURNING approval_required, settings_updated_at, settings_updated_by;

-- name: customer_create
INSERT INTO accounts (reseller_id, name, type)
SELECT id, $2::text, 'Customer' FROM resellers WHERE id = $1::bigint
RETURNING id, name, type, approval_required;

-- name: credential_create
INSERT INTO credentials (client_id, reseller_id, secret_hash, scopes)
SELECT $2::text, id, $3::text, $4::text[] FROM resellers WHERE id = $1::bigint
RETURNING client_id, scopes;

-- name: credential_revoke
UPDATE credentials SET revoked_at = now()
WHERE reseller_id = $1::bigint AND client_id = $2::text AND revoked_at IS NULL
RETURNING client_id;

-- name: product_create
INSERT INTO products (sku, name, billing_cycles, unit_prices, currency, characteristics, fulfillment)
VALUES ($1::text, $2::text, $3::text[], $4::jsonb, $5::text, $6::jsonb, $7::jsonb)
ON CONFLICT (sku) DO NOTHING
RETURNING id, sku, name, billing_cycles, unit_prices, currency, characteristics;

-- name: customfield_create
INSERT INTO custom_field_definitions
    (reseller_id, name, label, type, required, options, published_to_storefront)
SELECT id, $2::text, $3::text, $4::text, $5::boolean, $6::text[], $7::boolean
FROM resellers WHERE id = $1::bigint
ON CONFLICT (reseller_id, name) DO NOTHING
RETURNING name, label, type, required, options, published_to_storefront;
