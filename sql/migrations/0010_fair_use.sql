-- One tenant never holds back another (contract v3.2): keys per credential,
-- who changed a reseller's settings, and a manual retry that honours the lease.

-- An Idempotency-Key belongs to the credential (clientId) that sent it, not to
-- the whole reseller: another credential with the same key runs its own
-- request. Rows stored before this migration have client_id '' and stay the
-- reseller's until they expire (at most IDEMPOTENCY_TTL_SECONDS), so a retry
-- sent across the upgrade is still applied once. A replica of the previous
-- version still running during a rolling update cannot store a key any more
-- (its INSERT names the old primary key): its keyed POSTs answer 500 with
-- nothing applied, and the client's retry reaches a new replica.
ALTER TABLE idempotency_keys ADD COLUMN client_id text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (reseller_id, client_id, key);
ALTER TABLE idempotency_keys ALTER COLUMN client_id DROP DEFAULT;

-- The first step of a keyed request (see 0004 for why a function): the lock
-- of (reseller, credential, key), then the credential's own unexpired answer,
-- or else one stored before keys were per credential (client_id says which:
-- a sealed answer is bound to its row). A client id never holds a space, so
-- "client key" names one pair only.
CREATE FUNCTION idempotency_claim(p_reseller_id bigint, p_client_id text, p_key text)
RETURNS TABLE (locked boolean, client_id text, fingerprint bytea, status smallint, headers jsonb, body bytea)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_client_id || ' ' || p_key, p_reseller_id)) THEN
        RETURN QUERY SELECT false, NULL::text, NULL::bytea, NULL::smallint, NULL::jsonb, NULL::bytea;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT true, k.client_id, k.fingerprint, k.status, k.headers, k.body
        FROM idempotency_keys k
        WHERE k.reseller_id = p_reseller_id AND k.key = p_key AND k.client_id IN (p_client_id, '')
          AND k.expires_at > now()
        ORDER BY k.client_id = p_client_id DESC
        LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, NULL::text, NULL::bytea, NULL::smallint, NULL::jsonb, NULL::bytea;
    END IF;
END;
$$;

-- Who changed the reseller's settings (approvalRequired) last, and when: the
-- clientId of PUT /api/settings, or 'operator' (PATCH /admin/resellers/{id}).
-- NULL until someone does.
ALTER TABLE resellers ADD COLUMN settings_updated_at timestamptz;
ALTER TABLE resellers ADD COLUMN settings_updated_by text;

-- A manual retry asked for while the delivery is being sent (its lease runs):
-- the send's outcome is recorded, and then the delivery is due again at once.
ALTER TABLE webhook_deliveries ADD COLUMN retry_requested boolean NOT NULL DEFAULT false;
