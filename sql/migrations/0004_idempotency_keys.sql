-- Safe retries: the stored answer of every request sent with an
-- Idempotency-Key, per reseller. A row is written in the same transaction as
-- the request's effect (service/http/idempotency.py), so a request is applied
-- once with its answer stored, or not at all. The primary key is what makes
-- "once" hold across replicas even if two requests with one key got past the
-- advisory lock that normally turns the second away.
CREATE TABLE idempotency_keys (
    reseller_id bigint NOT NULL REFERENCES resellers (id),
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- sha256 of method, path and the body as canonical JSON (or its bytes).
    fingerprint bytea NOT NULL,
    status      smallint NOT NULL CHECK (status BETWEEN 100 AND 499),
    -- The headers replayed with the body: Content-Type, Location, ...
    headers     jsonb NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (reseller_id, key)
);

-- The purge job walks the oldest expired keys.
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- The first step of a keyed request, in one round trip: take the key's
-- transaction-level advisory lock without waiting (false: another request
-- with the key is running, on some replica), then read the key's unexpired
-- answer, if any. A VOLATILE function reads with a snapshot taken when its
-- SELECT starts, after the lock is held, so an answer committed by the
-- request that held the lock just before is seen; a single statement would
-- read with a snapshot from before the lock. A collision of two keys' hashes
-- only turns one of them away with a 409; the primary key still makes sure
-- no request runs twice.
CREATE FUNCTION idempotency_claim(p_reseller_id bigint, p_key text)
RETURNS TABLE (locked boolean, fingerprint bytea, status smallint, headers jsonb, body bytea)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_key, p_reseller_id)) THEN
        RETURN QUERY SELECT false, NULL::bytea, NULL::smallint, NULL::jsonb, NULL::bytea;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT true, k.fingerprint, k.status, k.headers, k.body
        FROM idempotency_keys k
        WHERE k.reseller_id = p_reseller_id AND k.key = p_key AND k.expires_at > now();
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, NULL::bytea, NULL::smallint, NULL::jsonb, NULL::bytea;
    END IF;
END;
$$;
