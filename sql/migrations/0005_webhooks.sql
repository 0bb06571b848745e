-- v3.1 webhooks: subscriptions, the deliveries made from order events, and
-- where the dispatcher is in each reseller's events. See docs/webhooks.md.

-- A reseller's endpoint. event_types NULL means every type, including types
-- added later. signing_key is the raw key behind the `whsec_` secret: the
-- sender signs with it, so it cannot be kept as a hash; no answer shows it
-- after the one that created it. created_xid: the creating transaction's id;
-- the webhook gets the events of transactions after it.
CREATE TABLE webhooks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id   bigint NOT NULL REFERENCES resellers (id),
    url           text NOT NULL CHECK (length(url) <= 2048),
    event_types   text[],
    description   text,
    enabled       boolean NOT NULL DEFAULT true,
    signing_key   bytea NOT NULL,
    created_xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- The first failed attempt of the current unbroken run of failed
    -- attempts; NULL after a success. Three days of it disable the endpoint.
    failing_since timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_reseller_idx ON webhooks (reseller_id, id);

-- The dispatcher's position in each reseller's events, as the feed's (xid, id)
-- (sql/migrations/0003_lifecycle.sql): every event before it has become the
-- deliveries it should. Created with the reseller's first webhook, advanced in
-- the transaction that inserts the deliveries.
CREATE TABLE webhook_dispatch (
    reseller_id bigint PRIMARY KEY REFERENCES resellers (id),
    xid         xid8 NOT NULL,
    event_id    bigint NOT NULL
);

-- One event for one webhook. `state` (not `status`: that word belongs to the
-- order lifecycle) is pending, succeeded or failed. The sender claims due
-- pending rows with FOR UPDATE SKIP LOCKED and a lease (lease_until +
-- lease_token, as executions are claimed). An event purged from the trail
-- takes its deliveries with it.
CREATE TABLE webhook_deliveries (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id           bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    reseller_id          bigint NOT NULL,
    event_id             bigint NOT NULL REFERENCES order_events (id) ON DELETE CASCADE,
    event_type           text NOT NULL,
    state                text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz DEFAULT now(),
    last_attempt_at      timestamptz,
    last_response_status integer,
    last_error           text,
    -- A manual retry of a finished delivery: one attempt, no schedule after it.
    manual_retry         boolean NOT NULL DEFAULT false,
    lease_until          timestamptz,
    lease_token          uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- One delivery per event and webhook, whatever a dispatcher does.
    UNIQUE (event_id, webhook_id)
);
-- The reseller's list, newest first.
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, id);
-- The sender's claim: each endpoint's due rows in the order they fall due.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (webhook_id, next_attempt_at, id)
    WHERE state = 'pending';
-- The oldest pending delivery (the age the metrics report).
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, id)
    WHERE state = 'pending';
