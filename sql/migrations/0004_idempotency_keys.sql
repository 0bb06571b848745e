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
