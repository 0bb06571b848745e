-- Queries of GET /metrics (service.metrics). Each process runs them at most
-- once every few seconds, whatever the scrape rate.

-- name: metrics_execution_backlog
-- One pass over the unfinished items (the rows the partial index
-- executions_due_idx covers): how many wait in each status, and how long the
-- item that has been due the longest has waited for its next step.
SELECT count(*) FILTER (WHERE status = 'Pending') AS pending,
       count(*) FILTER (WHERE status = 'In Progress') AS in_progress,
       coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())),
                0)::double precision AS oldest_due_seconds
FROM executions
WHERE status IN ('Pending', 'In Progress');

-- name: metrics_feed_horizon
-- How long the feed, the stream and webhooks have been held back: the age of
-- the oldest committed event they may not read yet, because a transaction
-- older than its own is still running somewhere on the server (the horizon is
-- server-wide, see service/domain/events.py). 0 when nothing is held back.
-- A range of the position index: only the events past the horizon.
SELECT coalesce(greatest(extract(epoch FROM now() - min(occurred_at)), 0), 0)::double precision
FROM order_events
WHERE xid >= pg_snapshot_xmin(pg_current_snapshot());
