-- The live events hub (service.live): the whole feed, every reseller at once,
-- in feed order. Positions are (xid, id), as in events.sql; see
-- service/domain/events.py for why only events of transactions older than
-- every transaction still running are read.

-- name: live_events_after
-- $1 $2 the hub's position, $3 batch size.
SELECT id, xid::text AS feed_xid, reseller_id, order_id, account_id, type, actor_type, actor_client_id,
       data, occurred_at
FROM order_events
WHERE (xid, id) > ($1::text::xid8, $2::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
-- Qualified, as in events.sql.
ORDER BY order_events.xid, order_events.id
LIMIT $3::integer;

-- name: live_events_waiting
-- After a read that returned everything readable: is an event after $1 $2
-- committed but held back, because a transaction older than its own still
-- runs? Then the hub reads again shortly: that transaction may end without
-- writing an event, so no notification would say so.
SELECT EXISTS (SELECT FROM order_events WHERE (xid, id) > ($1::text::xid8, $2::bigint));

-- name: live_head
-- The newest position every reader may already return: where a hub that
-- streams to nobody stands, so it never reads events nobody waits for.
SELECT xid::text AS feed_xid, id
FROM order_events
WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY order_events.xid DESC, order_events.id DESC
LIMIT 1;

-- name: live_ping
-- The listener's connection is alive (a silently dropped one would never
-- deliver another notification).
SELECT 1;
