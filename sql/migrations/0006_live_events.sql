-- Live events (GET /api/events/stream, service/live/): every transaction that
-- writes events wakes the listener of each replica once, when it commits.

-- Each process reads the whole feed once, for every reseller, in (xid, id)
-- order from its own position, and fans the events out to its open streams;
-- that read walks this index (order_events_feed_idx has the reseller first).
CREATE INDEX order_events_position_idx ON order_events (xid, id);

-- Statement level, with a transition table so that a statement inserting no
-- event notifies nobody: the poll job's claim runs every tick with an INSERT
-- in a CTE that is usually empty. The payload is empty on purpose: a listener
-- only needs to know that something committed, and PostgreSQL folds identical
-- notifications of one transaction into one, delivered at commit and never
-- for a rollback.
CREATE FUNCTION order_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM inserted) THEN
        PERFORM pg_notify('order_events', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER order_events_notify
    AFTER INSERT ON order_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION order_events_notify();
