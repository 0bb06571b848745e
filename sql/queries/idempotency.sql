-- Stored answers of Idempotency-Key requests (service.http.idempotency) and
-- their purge (service.execution.expiry). Every query is scoped by reseller,
-- and a key by the credential that sent it (0010).

-- name: idempotency_claim
-- Taken first, in the request's transaction (see the function in 0004): the
-- key's advisory lock, so a second request with the key on any replica
-- answers 409 at once instead of queueing behind the first, released when the
-- transaction ends however it ends; then the stored answer, read after the
-- lock is held. $1 reseller, $2 clientId, $3 key. One row: locked, and the
-- answer's columns (NULL when none; client_id '' for an answer stored before
-- keys were per credential).
SELECT locked, client_id, fingerprint, status, headers, body
FROM idempotency_claim($1::bigint, $2::text, $3::text);

-- name: idempotency_store
-- Before the commit of the request's own transaction. An expired row that the
-- purge job has not reached yet is replaced; an unexpired one (which the lock
-- should have made impossible) is left alone and no row comes back: the
-- caller then rolls the request back.
-- $1 reseller, $2 clientId, $3 key, $4 fingerprint, $5 status, $6 headers,
-- $7 body, $8 seconds to keep it.
INSERT INTO idempotency_keys AS k (reseller_id, client_id, key, fingerprint, status, headers, body, expires_at)
VALUES ($1::bigint, $2::text, $3::text, $4::bytea, $5::smallint, $6::jsonb, $7::bytea,
        now() + make_interval(secs => $8::double precision))
ON CONFLICT (reseller_id, client_id, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, headers = EXCLUDED.headers,
    body = EXCLUDED.body, created_at = now(), expires_at = EXCLUDED.expires_at
WHERE k.expires_at <= now()
RETURNING 1;

-- name: idempotency_purge_batch
-- $1 batch size. SKIP LOCKED passes over a key a request is replacing right
-- now, and the DELETE re-checks the expiry on the row as it then is, so a key
-- stored again since this statement started is never deleted.
WITH doomed AS (
    SELECT reseller_id, client_id, key
    FROM idempotency_keys
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM idempotency_keys k
    USING doomed
    WHERE k.reseller_id = doomed.reseller_id AND k.client_id = doomed.client_id AND k.key = doomed.key
      AND k.expires_at <= now()
    RETURNING 1
)
SELECT count(*)::integer AS deleted FROM deleted;
