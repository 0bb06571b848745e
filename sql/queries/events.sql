-- The events trail (service.domain.events). Feed positions are (xid, id);
-- see sql/migrations/0003_lifecycle.sql for why.

-- name: events_feed
-- $1 reseller, $2 $3 the position after which to read, $4 type or NULL,
-- $5 order id or NULL, $6 page size. Only events of transactions older than
-- every transaction still running are returned: none can commit before them
-- any more, so a reader that moves its position forward never skips one.
SELECT id, xid::text AS feed_xid, order_id, account_id, type, actor_type, actor_client_id, data,
       occurred_at
FROM order_events
WHERE reseller_id = $1::bigint
  AND (xid, id) > ($2::text::xid8, $3::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
  AND ($4::text IS NULL OR type = $4::text)
  AND ($5::bigint IS NULL OR order_id = $5::bigint)
-- Qualified, so the order is by the xid8 column, never by text ('1000' < '999').
ORDER BY order_events.xid, order_events.id
LIMIT $6::integer;

-- name: order_events_page
-- One order's events, oldest first; the caller has checked the order is visible.
SELECT id, xid::text AS feed_xid, order_id, account_id, type, actor_type, actor_client_id, data,
       occurred_at
FROM order_events
WHERE order_id = $1::bigint AND reseller_id = $2::bigint
  AND ($3::bigint IS NULL OR id > $3::bigint)
ORDER BY id
LIMIT $4::integer;

-- name: events_purge_batch
-- $1 batch size, $2 keep this many days. Oldest first, in batches, so the
-- purge never holds many rows; replicas running it at once split the work.
WITH doomed AS (
    SELECT id FROM order_events
    WHERE occurred_at < now() - make_interval(days => $2::integer)
    ORDER BY occurred_at
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM order_events e USING doomed WHERE e.id = doomed.id
    RETURNING e.id
)
SELECT count(*)::integer FROM deleted;
