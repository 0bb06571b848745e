-- Tokens and credentials.

-- name: signing_keys_current
-- Every process reads the key set every few seconds (service.tokens): each
-- key verifies; the newest signs, and only its sealed private half is read.
SELECT kid, public_jwk, current, CASE WHEN current THEN private_key END AS private_key
FROM (SELECT kid, public_jwk, private_key, id = max(id) OVER () AS current FROM signing_keys) k;

-- name: signing_keys_list
-- The operator's list, newest (the current key) first.
SELECT kid, created_at, id = max(id) OVER () AS current
FROM signing_keys
ORDER BY id DESC;

-- name: signing_keys_jwks
SELECT public_jwk FROM signing_keys ORDER BY id DESC;

-- name: signing_key_create
-- $1 kid, $2 public JWK, $3 sealed private key. The new key is the newest: it signs from now on.
INSERT INTO signing_keys (kid, public_jwk, private_key)
VALUES ($1::text, $2::jsonb, $3::bytea)
RETURNING kid, created_at, true AS current;

-- name: signing_key_create_first
-- The migrate command's step: the first key, only while there is none (under the migration lock).
INSERT INTO signing_keys (kid, public_jwk, private_key)
SELECT $1::text, $2::jsonb, $3::bytea
WHERE NOT EXISTS (SELECT 1 FROM signing_keys)
RETURNING kid;

-- name: signing_key_delete
-- Never the newest key: there is always one to sign with. No row back: the
-- key is the current one, or there is no such key (signing_key_exists tells).
DELETE FROM signing_keys
WHERE kid = $1::text AND id < (SELECT max(id) FROM signing_keys)
RETURNING kid;

-- name: signing_key_exists
SELECT 1 FROM signing_keys WHERE kid = $1::text;

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
