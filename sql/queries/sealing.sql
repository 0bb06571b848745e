-- Sealing rows with SECRET_KEY (service/sealing.py): the migrate command's
-- step that seals what a v3.1 database kept plain, and rotate-secret-key.
-- Each works through every tenant's rows in batches; each write is guarded
-- by the value it replaces, so a row that changed meanwhile is left alone
-- (and found again by the next batch if it still needs the work).
-- A sealed value starts with 0x0001 and the 8-byte id of its key.

-- name: sealing_current_signing_key
SELECT kid, private_key FROM signing_keys ORDER BY id DESC LIMIT 1;

-- name: sealing_plain_webhooks
-- $1 batch size.
SELECT id, reseller_id, plain_signing_key FROM webhooks
WHERE plain_signing_key IS NOT NULL
ORDER BY id
LIMIT $1::integer;

-- name: sealing_seal_webhook
-- $1 webhook, $2 reseller, $3 the plain key read, $4 the sealed key.
UPDATE webhooks SET signing_secret = $4::bytea, plain_signing_key = NULL
WHERE id = $1::bigint AND reseller_id = $2::bigint AND plain_signing_key = $3::bytea
RETURNING id;

-- name: sealing_plain_answers
-- Stored answers that hold a webhook secret in plain text (v3.1 kept the 201
-- of POST /api/webhooks as it was sent). $1 batch size.
SELECT reseller_id, digest, client_id, key, body FROM idempotency_keys
WHERE substring(body FROM 1 FOR 1) <> '\x00'::bytea
  AND position('"secret":"whsec_'::bytea IN body) > 0
LIMIT $1::integer;

-- name: sealing_reseal_answer
-- $1 reseller, $2 the key's digest (0013), $3 the body read, $4 its replacement.
UPDATE idempotency_keys SET body = $4::bytea
WHERE reseller_id = $1::bigint AND digest = $2::bytea AND body = $3::bytea
RETURNING 1;

-- name: sealing_stale_signing_keys
-- Sealed under another key than $1 (the new SECRET_KEY's id); $2 batch size.
SELECT kid, private_key FROM signing_keys
WHERE substring(private_key FROM 3 FOR 8) <> $1::bytea
ORDER BY id
LIMIT $2::integer;

-- name: sealing_reseal_signing_key
UPDATE signing_keys SET private_key = $3::bytea
WHERE kid = $1::text AND private_key = $2::bytea
RETURNING 1;

-- name: sealing_stale_webhooks
SELECT id, reseller_id, signing_secret FROM webhooks
WHERE signing_secret IS NOT NULL AND substring(signing_secret FROM 3 FOR 8) <> $1::bytea
ORDER BY id
LIMIT $2::integer;

-- name: sealing_reseal_webhook
UPDATE webhooks SET signing_secret = $4::bytea
WHERE id = $1::bigint AND reseller_id = $2::bigint AND signing_secret = $3::bytea
RETURNING 1;

-- name: sealing_stale_answers
SELECT reseller_id, digest, client_id, key, body FROM idempotency_keys
WHERE substring(body FROM 1 FOR 2) = '\x0001'::bytea AND substring(body FROM 3 FOR 8) <> $1::bytea
LIMIT $2::integer;
