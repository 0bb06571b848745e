-- Tokens and credentials.

-- name: signing_key
SELECT secret FROM service_keys WHERE name = 'token_signing';

-- name: credential_for_login
SELECT c.client_id, c.reseller_id, c.secret_hash, c.scopes
FROM credentials c
WHERE c.client_id = $1::text AND c.revoked_at IS NULL;

-- name: credential_state
-- What a token's holder may do now: refreshed at most every few seconds per client.
SELECT c.reseller_id, r.edition, c.scopes
FROM credentials c
JOIN resellers r ON r.id = c.reseller_id
WHERE c.client_id = $1::text AND c.revoked_at IS NULL;
