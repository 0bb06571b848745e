-- v3.1 lifecycle: scoped credentials, reseller approval, and the events trail.

-- Scopes a credential may hold. Credentials made before scopes existed keep
-- every scope, as the contract's default for a credential made without a body.
ALTER TABLE credentials
    ADD COLUMN scopes text[] NOT NULL
        DEFAULT ARRAY['orders:read', 'orders:write', 'orders:approve']
        CHECK (scopes <@ ARRAY['orders:read', 'orders:write', 'orders:approve']);

-- Four eyes: while true, checkout stops at 'Reseller Pending Approval'.
ALTER TABLE resellers ADD COLUMN approval_required boolean NOT NULL DEFAULT false;

-- Who checked the order out, who approved or cancelled it, and why it was cancelled.
ALTER TABLE orders
    ADD COLUMN submitted_by text,
    ADD COLUMN decided_by text,
    ADD COLUMN cancellation_reason text;

ALTER TABLE orders ADD CONSTRAINT orders_status_known CHECK (
    status IN ('Draft', 'Reseller Pending Approval', 'Cancelled by Reseller', 'Pending',
               'In Progress', 'Completed', 'Partially Completed', 'Failed')
);

-- Orders as the API sees them: a Draft past its expiration date is expired
-- from the day after (UTC; the pool sets the session time zone), whether or
-- not the expiry job has deleted it yet. Every reseller-facing query reads
-- orders through this view, so the rule is written once. A simple view: the
-- planner inlines it, and FOR UPDATE and UPDATE go through to orders.
CREATE VIEW visible_orders AS
SELECT * FROM orders
WHERE status <> 'Draft' OR expiration_date >= current_date;

-- Pending approval orders, per tenant: the approver's queue.
CREATE INDEX orders_pending_approval_idx ON orders (reseller_id, order_date DESC, id DESC)
    WHERE status = 'Reseller Pending Approval';

-- The events trail. One row per change, written by the statement (or in the
-- transaction) that makes the change. No foreign key to orders: the event of
-- an expired draft outlives the draft.
--
-- Feed position is (xid, id): xid is the writing transaction's id. Readers
-- only return events of transactions older than every transaction still
-- running (pg_snapshot_xmin of their snapshot), so an event that commits later
-- can never land before a position a reader has already passed, however
-- commits interleave across replicas. See service/domain/events.py.
CREATE TABLE order_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    reseller_id     bigint NOT NULL REFERENCES resellers (id),
    order_id        bigint NOT NULL,
    account_id      bigint NOT NULL,
    type            text NOT NULL,
    actor_type      text NOT NULL CHECK (actor_type IN ('client', 'operator', 'system')),
    actor_client_id text,
    data            jsonb NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_feed_idx ON order_events (reseller_id, xid, id);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);
-- Retention purge walks the oldest events.
CREATE INDEX order_events_age_idx ON order_events (occurred_at);
