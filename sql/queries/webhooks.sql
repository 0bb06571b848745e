-- A reseller's webhooks and their deliveries (service.domain.webhooks).
-- Tenant scope is in every WHERE clause: another reseller's webhook or
-- delivery is simply not found.

-- name: webhook_quota_lock
-- Taken before webhook_create, in its transaction: creates of one reseller
-- take turns, so each one's count sees the others' rows. NO KEY UPDATE: the
-- reseller's other writes (orders, credentials) take KEY SHARE and pass.
SELECT id FROM resellers WHERE id = $1::bigint FOR NO KEY UPDATE;

-- name: webhook_next_id
-- A new webhook's id, taken before its row is written: its sealed signing key
-- is bound to it (service.secretbox).
SELECT nextval(pg_get_serial_sequence('webhooks', 'id'));

-- name: webhook_create
-- $1 reseller, $2 url, $3 event types (NULL: every type), $4 description,
-- $5 enabled, $6 the sealed signing key, $7 its id (from webhook_next_id),
-- $8 how many webhooks a reseller may have: no row when it has that many
-- (under webhook_quota_lock). The reseller's first webhook starts the
-- dispatcher's position for it here: events of later transactions are
-- delivered.
WITH position AS (
    INSERT INTO webhook_dispatch (reseller_id, xid, event_id)
    VALUES ($1::bigint, pg_current_xact_id(), 0)
    ON CONFLICT (reseller_id) DO NOTHING
)
INSERT INTO webhooks (id, reseller_id, url, event_types, description, enabled, signing_secret)
OVERRIDING SYSTEM VALUE
SELECT $7::bigint, $1::bigint, $2::text, $3::text[], $4::text, $5::boolean, $6::bytea
WHERE (SELECT count(*) FROM webhooks WHERE reseller_id = $1::bigint) < $8::integer
RETURNING id, url, event_types, description, enabled, created_at;

-- name: webhooks_page
-- $1 reseller, $2 the last id of the previous page or NULL, $3 page size.
SELECT id, url, event_types, description, enabled, created_at
FROM webhooks
WHERE reseller_id = $1::bigint AND ($2::bigint IS NULL OR id > $2::bigint)
ORDER BY id
LIMIT $3::integer;

-- name: webhook_get
SELECT id, url, event_types, description, enabled, created_at
FROM webhooks
WHERE id = $1::bigint AND reseller_id = $2::bigint;

-- name: webhook_patch
-- $1 webhook, $2 reseller, $3 url or NULL (unchanged), $4 whether event types
-- were sent, $5 event types (NULL: every type), $6 whether a description was
-- sent, $7 description, $8 enabled or NULL (unchanged). Enabling a disabled
-- webhook starts its run of failures afresh.
UPDATE webhooks
SET url = coalesce($3::text, url),
    event_types = CASE WHEN $4::boolean THEN $5::text[] ELSE event_types END,
    description = CASE WHEN $6::boolean THEN $7::text ELSE description END,
    failing_since = CASE WHEN $8::boolean AND NOT enabled THEN NULL ELSE failing_since END,
    enabled = coalesce($8::boolean, enabled),
    updated_at = now()
WHERE id = $1::bigint AND reseller_id = $2::bigint
RETURNING id, url, event_types, description, enabled, created_at;

-- name: webhook_delete
-- Its deliveries go with it (ON DELETE CASCADE); a send in flight finds its
-- row gone and records nothing.
DELETE FROM webhooks WHERE id = $1::bigint AND reseller_id = $2::bigint
RETURNING id;

-- name: webhook_deliveries_page
-- $1 webhook, $2 reseller, $3 the last id of the previous page or NULL, $4
-- page size. Newest first. A disabled webhook's pending deliveries are not
-- scheduled: no next attempt is shown for them.
SELECT d.id, d.event_id, d.event_type, d.state, d.attempts, d.last_attempt_at,
       d.last_response_status, d.last_error,
       CASE WHEN d.state = 'pending' AND w.enabled THEN d.next_attempt_at END AS next_attempt_at
FROM webhook_deliveries d
JOIN webhooks w ON w.id = d.webhook_id
WHERE d.webhook_id = $1::bigint AND d.reseller_id = $2::bigint
  AND ($3::bigint IS NULL OR d.id < $3::bigint)
ORDER BY d.id DESC
LIMIT $4::integer;

-- name: webhook_delivery_get
-- $1 webhook, $2 delivery, $3 reseller.
SELECT d.id, d.event_id, d.event_type, d.state, d.attempts, d.last_attempt_at,
       d.last_response_status, d.last_error,
       CASE WHEN d.state = 'pending' AND w.enabled THEN d.next_attempt_at END AS next_attempt_at,
       w.enabled
FROM webhook_deliveries d
JOIN webhooks w ON w.id = d.webhook_id
WHERE d.id = $2::bigint AND d.webhook_id = $1::bigint AND d.reseller_id = $3::bigint;

-- name: webhook_delivery_retry
-- $1 webhook, $2 delivery, $3 reseller. Due now. A delivery that had
-- finished (succeeded or failed) gets one attempt and no schedule after it;
-- a pending one just comes forward and keeps its schedule. Only while the
-- webhook is enabled (SET reads the row as it was). While a send of it is in
-- flight (its lease runs), the retry is remembered: the send's outcome is
-- written, and then it is due again at once (webhook_attempt_*).
UPDATE webhook_deliveries d
SET manual_retry = d.manual_retry OR d.state <> 'pending',
    state = 'pending',
    next_attempt_at = now(),
    retry_requested = d.lease_until IS NOT NULL AND d.lease_until > now()
FROM webhooks w
WHERE d.id = $2::bigint AND d.webhook_id = $1::bigint AND d.reseller_id = $3::bigint
  AND w.id = d.webhook_id AND w.enabled
RETURNING d.id, d.event_id, d.event_type, d.state, d.attempts, d.last_attempt_at,
          d.last_response_status, d.last_error, d.next_attempt_at;
