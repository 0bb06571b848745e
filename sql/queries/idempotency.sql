-- Stored answers of Idempotency-Key requests (service.http.idempotency) and
-- their purge (service.execution.expiry). Every query is scoped by reseller,
-- and a key by the credential that sent it (0010), named by its digest (0013).

-- name: idempotency_open
-- A script (service.db.Database.script): a simple query of several
-- statements, so its values are written into it, and they are only integers
-- and bytes in hex digits that the service computed itself ({reseller_id}; {digest}
-- and {legacy}, digests of the key, see 0013; {lock_high} and {lock_low},
-- halves of the digest; {fingerprint}, of the request; {ttl_seconds}), never a
-- client's text. In one round trip: begin the request's transaction and claim
-- the key (idempotency_claim in 0013: its lock, and its row). The command tag
-- says how the claim went: SELECT 0 (free, held now), 1 (an answer is
-- stored), 2 (another request holds it). No savepoint: a refusal is stored
-- after a rollback, by idempotency_store_refusal.
BEGIN;
SELECT FROM generate_series(1, idempotency_claim({reseller_id}, decode({digest}, 'hex'), decode({legacy}, 'hex'),
                                                 {lock_high}, {lock_low}, decode({fingerprint}, 'hex'),
                                                 {ttl_seconds}));

-- name: idempotency_stored
-- After idempotency_open said the key has an answer, still holding its lock:
-- the answer, the credential's own ($2) before one stored before keys were per
-- credential ($3). A row stored before 0013 has its clientId, key and headers;
-- one stored since has them NULL and its headers packed in body.
SELECT digest, client_id, key, fingerprint, status, headers, body
FROM idempotency_keys
WHERE reseller_id = $1::bigint AND digest IN ($2::bytea, $3::bytea) AND expires_at > now()
ORDER BY digest = $2::bytea DESC
LIMIT 1;

-- name: idempotency_store
-- A script (see idempotency_open), the last round trip of a keyed request:
-- its answer ({answer}: headers and body packed and compressed, sealed when it
-- shows a secret) written into the key's row, which idempotency_open took, and
-- the commit. Nothing here waits for anything; and should the row not be there
-- (it always is), the answer fails and nothing commits.
SELECT idempotency_answer({reseller_id}, decode({digest}, 'hex'), {status}, decode({answer}, 'hex'));
COMMIT;

-- name: idempotency_store_refusal
-- A script (see idempotency_open), the last round trip of a request whose
-- handler raised a refusal (a 4xx): what the handler did is rolled back, with
-- the key's row and lock, and the refusal is stored in a transaction of its
-- own, if the key can be claimed again. Should another request with the key
-- have claimed it in between (it could: nothing of this one was applied),
-- the key keeps that request's answer, and this refusal is sent unstored.
ROLLBACK;
BEGIN;
WITH claim AS MATERIALIZED (
    SELECT idempotency_claim({reseller_id}, decode({digest}, 'hex'), decode({legacy}, 'hex'),
                             {lock_high}, {lock_low}, decode({fingerprint}, 'hex'), {ttl_seconds}) AS claimed
)
SELECT idempotency_answer({reseller_id}, decode({digest}, 'hex'), {status}, decode({answer}, 'hex'))
FROM claim
WHERE claimed = 0;
COMMIT;

-- name: idempotency_purge_batch
-- $1 batch size. SKIP LOCKED passes over a key a request is replacing right
-- now, and the DELETE re-checks the expiry on the row as it then is, so a key
-- stored again since this statement started is never deleted.
WITH doomed AS (
    SELECT reseller_id, digest
    FROM idempotency_keys
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM idempotency_keys k
    USING doomed
    WHERE k.reseller_id = doomed.reseller_id AND k.digest = doomed.digest
      AND k.expires_at <= now()
    RETURNING 1
)
SELECT count(*)::integer AS deleted FROM deleted;
