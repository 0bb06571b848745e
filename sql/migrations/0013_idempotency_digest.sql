-- A keyed request in three round trips (service/http/idempotency.py): the key
-- is claimed (its row taken) in the round trip that begins its transaction,
-- and its answer written in the one that commits. Those round trips are simple queries, which
-- take no parameters, so they name a key by a digest the service computes
-- (never by the client's text): sha256 of the reseller's id (8 bytes, big
-- endian), the clientId, a NUL and the key. Neither a clientId nor a key can
-- hold a NUL, so the digest names one (reseller, credential, key) only.
--
-- Rows stored before this migration get their digest here and keep their
-- clientId and key (a sealed answer is bound to them); rows stored from now on
-- have neither and keep their headers and body packed, compressed, in body
-- (headers NULL), sealed when they show a secret. A row without a status is a
-- key being claimed, in a transaction that has not committed: nobody sees it.
--
-- A replica of the previous version still running during a rolling update
-- cannot claim a key any more (its function is gone): its keyed POSTs answer
-- 500 with nothing applied, and the client's retry reaches a new replica.
ALTER TABLE idempotency_keys ADD COLUMN digest bytea;
UPDATE idempotency_keys
SET digest = sha256(int8send(reseller_id) || convert_to(client_id, 'UTF8') || '\x00'::bytea
                    || convert_to(key, 'UTF8'));
ALTER TABLE idempotency_keys ALTER COLUMN digest SET NOT NULL;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_digest_length CHECK (octet_length(digest) = 32);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (reseller_id, digest);
ALTER TABLE idempotency_keys ALTER COLUMN client_id DROP NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN key DROP NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN headers DROP NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN status DROP NOT NULL;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_one_format
    CHECK ((headers IS NULL) = (key IS NULL) AND (key IS NULL) = (client_id IS NULL));

DROP FUNCTION idempotency_claim(bigint, text, text);

-- The first step of a keyed request, in its transaction: the key's advisory
-- lock, taken without waiting (two int4 halves of the digest: a lock space of
-- its own, apart from the jobs' bigint locks), then whether the key has an
-- unexpired answer, its own ($2) or one stored before keys were per credential
-- ($3, the digest with clientId ''). If not, the key's row is taken now (an
-- expired answer the purge has not reached yet is replaced): the answer is
-- written into it by idempotency_answer just before the commit, so nothing
-- after the request's own statements can wait, and a row another transaction
-- holds is waited for here, before the request does anything. Until then the
-- row has no status and nobody else sees it. Returns 0: the key is free and
-- now held by this transaction; 1: it has an answer (read it with
-- idempotency_stored); 2: another request holds it, on some replica. A
-- VOLATILE function reads with a snapshot taken after the lock is held (0004).
CREATE FUNCTION idempotency_claim(p_reseller_id bigint, p_digest bytea, p_legacy bytea,
                                  p_lock_high integer, p_lock_low integer,
                                  p_fingerprint bytea, p_seconds integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock_high, p_lock_low) THEN
        RETURN 2;
    END IF;
    IF EXISTS (SELECT FROM idempotency_keys k
               WHERE k.reseller_id = p_reseller_id AND k.digest IN (p_digest, p_legacy)
                 AND k.expires_at > now()) THEN
        RETURN 1;
    END IF;
    INSERT INTO idempotency_keys AS k (reseller_id, digest, fingerprint, body, expires_at)
    VALUES (p_reseller_id, p_digest, p_fingerprint, '', now() + make_interval(secs => p_seconds))
    ON CONFLICT (reseller_id, digest) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, status = NULL, headers = NULL, body = '', client_id = NULL,
        key = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= now();
    IF NOT FOUND THEN
        RETURN 2;  -- answered meanwhile without the lock: impossible, but then not ours
    END IF;
    RETURN 0;
END;
$$;

-- The last step before the commit: the answer, into the row the claim took.
-- It fails (and so does the commit after it) unless that row is there,
-- waiting for its answer: a request is never committed without it.
CREATE FUNCTION idempotency_answer(p_reseller_id bigint, p_digest bytea, p_status integer, p_body bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    UPDATE idempotency_keys
    SET status = p_status, body = p_body
    WHERE reseller_id = p_reseller_id AND digest = p_digest AND status IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key % of reseller % was not claimed', encode(p_digest, 'hex'), p_reseller_id;
    END IF;
END;
$$;
