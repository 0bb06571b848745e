-- The webhook jobs (service.execution.webhook_dispatcher, webhook_sender).
-- Correctness on many replicas lives here: one dispatcher at a time turns
-- committed events into deliveries (an advisory lock, a unique key behind
-- it); senders claim due deliveries with FOR UPDATE SKIP LOCKED and a lease,
-- and every result write is guarded by the claimer's lease_token.

-- name: webhook_dispatch_lock
-- $1 the lock's key. Taken for the dispatching transaction; a replica that
-- does not get it does nothing this time.
SELECT pg_try_advisory_xact_lock($1::bigint);

-- name: webhook_dispatch
-- $1 events per reseller per batch. Every reseller with a position: its
-- next events after it, read as the feed reads them (only transactions older
-- than every one still running, so none can commit behind the position),
-- each matched with the reseller's enabled webhooks that subscribe to its
-- type and were created before it; the position moves past the batch in the
-- same statement. Returns the events read, the deliveries made, and the
-- largest batch of one reseller (a full one: call again).
WITH batch AS (
    SELECT c.reseller_id, e.id, e.xid, e.type
    FROM webhook_dispatch c
    CROSS JOIN LATERAL (
        SELECT e.id, e.xid, e.type
        FROM order_events e
        WHERE e.reseller_id = c.reseller_id
          AND (e.xid, e.id) > (c.xid, c.event_id)
          AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.xid, e.id
        LIMIT $1::integer
    ) e
),
made AS (
    INSERT INTO webhook_deliveries (webhook_id, reseller_id, event_id, event_type)
    SELECT w.id, b.reseller_id, b.id, b.type
    FROM batch b
    JOIN webhooks w
      ON w.reseller_id = b.reseller_id
     AND w.enabled
     AND b.xid > w.created_xid
     AND (w.event_types IS NULL OR b.type = ANY (w.event_types))
    ORDER BY b.xid, b.id, w.id
    ON CONFLICT (event_id, webhook_id) DO NOTHING
    RETURNING id
),
last AS (
    SELECT DISTINCT ON (reseller_id) reseller_id, xid, id,
           count(*) OVER (PARTITION BY reseller_id) AS events
    FROM batch
    ORDER BY reseller_id, xid DESC, id DESC
),
moved AS (
    UPDATE webhook_dispatch c
    SET xid = last.xid, event_id = last.id
    FROM last
    WHERE c.reseller_id = last.reseller_id
    RETURNING c.reseller_id
)
SELECT (SELECT count(*) FROM batch) AS events,
       (SELECT count(*) FROM made) AS deliveries,
       (SELECT coalesce(max(events), 0) FROM last) AS fullest,
       (SELECT count(*) FROM moved) AS resellers;

-- name: webhook_claim
-- $1 how many, $2 lease seconds, $3 this claim's token, $4 sends one endpoint
-- may have running in this process, $5 endpoints with sends running here and
-- $6 how many each. Each enabled endpoint gives at most its room of due rows,
-- so an endpoint that hangs holds a few slots and never all of them.
WITH busy AS (
    SELECT webhook_id, running FROM unnest($5::bigint[], $6::integer[]) AS b (webhook_id, running)
),
due AS (
    SELECT d.id
    FROM webhooks w
    LEFT JOIN busy b ON b.webhook_id = w.id
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at
        FROM webhook_deliveries d
        WHERE d.webhook_id = w.id
          AND d.state = 'pending'
          AND d.next_attempt_at <= now()
          AND (d.lease_until IS NULL OR d.lease_until < now())
        ORDER BY d.next_attempt_at, d.id
        LIMIT greatest($4::integer - coalesce(b.running, 0), 0)
        FOR UPDATE OF d SKIP LOCKED
    ) d
    -- A key still plain (the migrate step seals it right after the SQL) waits.
    WHERE w.enabled AND w.signing_secret IS NOT NULL
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1::integer
),
claimed AS (
    UPDATE webhook_deliveries d
    SET lease_until = now() + make_interval(secs => $2::double precision),
        lease_token = $3::uuid
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.manual_retry
)
SELECT c.id AS delivery_id, c.webhook_id, c.attempts, c.manual_retry, w.url, w.reseller_id,
       w.signing_secret,
       e.id, e.type, e.occurred_at, e.order_id, e.account_id, e.actor_type, e.actor_client_id, e.data
FROM claimed c
JOIN webhooks w ON w.id = c.webhook_id
JOIN order_events e ON e.id = c.event_id
ORDER BY c.id;

-- name: webhook_attempt_succeeded
-- $1 delivery, $2 lease token, $3 response status, $4 when the attempt
-- started. A success ends the endpoint's run of failures. A retry asked for
-- while it was in flight makes it due again at once, for one more attempt.
WITH done AS (
    UPDATE webhook_deliveries
    SET state = CASE WHEN retry_requested THEN 'pending' ELSE 'succeeded' END,
        attempts = attempts + 1,
        last_attempt_at = $4::timestamptz,
        last_response_status = $3::integer,
        last_error = NULL,
        next_attempt_at = CASE WHEN retry_requested THEN now() END,
        manual_retry = retry_requested,
        retry_requested = false,
        lease_until = NULL,
        lease_token = NULL
    WHERE id = $1::bigint AND lease_token = $2::uuid
    RETURNING webhook_id
),
healthy AS (
    UPDATE webhooks w
    SET failing_since = NULL
    FROM done
    WHERE w.id = done.webhook_id AND w.failing_since IS NOT NULL
)
SELECT webhook_id FROM done;

-- name: webhook_attempt_failed
-- $1 delivery, $2 lease token, $3 response status or NULL, $4 what went
-- wrong, $5 when the attempt started, $6 'pending' (retried) or 'failed'
-- (the schedule is used up), $7 seconds until the retry (NULL when failed),
-- $8 seconds of unbroken failures after which the endpoint is disabled.
-- The endpoint row is written only when a run of failures starts and when it
-- is disabled, so failing sends to one endpoint do not queue on its row. A
-- retry asked for while it was in flight makes it due again at once: on its
-- schedule if one is left, else for one more attempt.
WITH done AS (
    UPDATE webhook_deliveries
    SET state = CASE WHEN retry_requested THEN 'pending' ELSE $6::text END,
        attempts = attempts + 1,
        last_attempt_at = $5::timestamptz,
        last_response_status = $3::integer,
        last_error = $4::text,
        next_attempt_at = CASE WHEN retry_requested THEN now()
                               ELSE now() + make_interval(secs => $7::double precision) END,
        manual_retry = retry_requested AND $6::text = 'failed',
        retry_requested = false,
        lease_until = NULL,
        lease_token = NULL
    WHERE id = $1::bigint AND lease_token = $2::uuid
    RETURNING webhook_id
),
failing AS (
    UPDATE webhooks w
    SET failing_since = coalesce(w.failing_since, $5::timestamptz),
        enabled = w.enabled
                  AND coalesce(w.failing_since > now() - make_interval(secs => $8::double precision), true),
        updated_at = now()
    FROM done
    WHERE w.id = done.webhook_id
      AND (w.failing_since IS NULL
           OR (w.enabled AND w.failing_since <= now() - make_interval(secs => $8::double precision)))
    RETURNING w.id, w.enabled, w.failing_since
)
-- disabled: this attempt disabled the endpoint (not: it was disabled already).
SELECT done.webhook_id,
       coalesce(NOT failing.enabled
                AND failing.failing_since <= now() - make_interval(secs => $8::double precision), false)
           AS disabled
FROM done LEFT JOIN failing ON failing.id = done.webhook_id;

-- name: webhook_release
-- On shutdown: hand claimed-but-unfinished deliveries back at once instead
-- of letting them wait for the lease to run out.
UPDATE webhook_deliveries
SET lease_until = NULL, lease_token = NULL, retry_requested = false
WHERE id = ANY ($1::bigint[]) AND lease_token = $2::uuid
RETURNING id;

-- name: webhook_oldest_pending
-- Seconds since the oldest delivery still pending on an enabled endpoint was
-- made (0 when there is none): the age the metrics report.
SELECT coalesce(extract(epoch FROM now() - min(p.created_at)), 0)::double precision
FROM webhooks w
CROSS JOIN LATERAL (
    SELECT d.created_at
    FROM webhook_deliveries d
    WHERE d.webhook_id = w.id AND d.state = 'pending'
    ORDER BY d.id
    LIMIT 1
) p
WHERE w.enabled;
