-- v3.2: subscriptions (what a completed purchase becomes), change orders (an
-- order item that names a subscription) and approval per customer account.
-- See docs/how-to/subscriptions.md.

-- One row per completed purchase item, created in the transaction that
-- completes it (sql/queries/subscriptions.sql, subscription_apply).
-- No foreign key to orders or order_items: a key referencing them would cost
-- a trigger call for every item the expiry job deletes, and the purchase of a
-- subscription is a completed order, which nothing deletes. item_id is unique:
-- one subscription per purchase item, whatever runs twice.
-- pending_order_id: the order whose change of this subscription is checked out
-- and not final (waiting for approval, or executing); set by checkout with the
-- row locked, cleared when that change item is final or its order cancelled.
-- It is what makes "one pending change per subscription" hold under racing
-- checkouts (subscriptions_claim).
CREATE TABLE subscriptions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id      bigint NOT NULL REFERENCES resellers (id),
    account_id       bigint NOT NULL REFERENCES accounts (id),
    product_id       bigint NOT NULL REFERENCES products (id),
    sku              text NOT NULL,
    product_name     text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    billing_cycle    text NOT NULL,
    unit_price       numeric(14, 2) NOT NULL,
    currency         text NOT NULL,
    status           text NOT NULL DEFAULT 'Active'
                     CONSTRAINT subscriptions_status_known CHECK (status IN ('Active', 'Cancelled')),
    -- The connector's own id of it (its subscriptionId), if it gave one.
    external_id      text,
    order_id         bigint NOT NULL,
    item_id          bigint NOT NULL UNIQUE,
    pending_order_id bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    CONSTRAINT subscriptions_cancelled_at CHECK ((status = 'Cancelled') = (cancelled_at IS NOT NULL))
);
-- Keyset pages, newest first (created_at, then id, as orders by order_date
-- and id): per tenant, per account, per product. Not by id alone: the primary
-- key would then serve every page too, and a plan walking it past other
-- tenants' rows is one the planner may pick for a tenant with few of them.
CREATE INDEX subscriptions_reseller_page_idx ON subscriptions (reseller_id, created_at, id);
CREATE INDEX subscriptions_account_page_idx ON subscriptions (account_id, created_at, id);
CREATE INDEX subscriptions_product_page_idx ON subscriptions (reseller_id, product_id, created_at, id);

-- Every item says what it does: buys (the default, every item so far),
-- changes the quantity of a subscription, or cancels it. A change item names
-- its subscription from the start; a purchase item names the subscription it
-- created once it completed. A cancel has quantity 0.
ALTER TABLE order_items
    ADD COLUMN action text NOT NULL DEFAULT 'purchase'
        CONSTRAINT order_items_action_known CHECK (action IN ('purchase', 'changeQuantity', 'cancel')),
    ADD COLUMN subscription_id bigint REFERENCES subscriptions (id),
    DROP CONSTRAINT order_items_quantity_check,
    ADD CONSTRAINT order_items_quantity_check
        CHECK (CASE WHEN action = 'cancel' THEN quantity = 0 ELSE quantity > 0 END),
    ADD CONSTRAINT order_items_change_names_subscription
        CHECK (action = 'purchase' OR subscription_id IS NOT NULL);
-- A subscription appears at most once in one order (the 422 of a second change item).
CREATE UNIQUE INDEX order_items_subscription_idx ON order_items (order_id, subscription_id);

-- Approval per customer account: true or false decides; NULL (every account
-- so far) follows the reseller's approval_required.
ALTER TABLE accounts ADD COLUMN approval_required boolean;

-- The subscriptions of purchase items completed before this migration, in the
-- order they completed, so ids keep the creation order. The connector's id the
-- execution record kept becomes external_id; the item and its execution record
-- then name our id, as new completions do. No events are written for them:
-- nothing happened now (GET /api/subscriptions lists them).
INSERT INTO subscriptions (reseller_id, account_id, product_id, sku, product_name, quantity,
                           billing_cycle, unit_price, currency, external_id, order_id, item_id,
                           created_at, updated_at)
SELECT i.reseller_id, o.account_id, i.product_id, i.sku, i.product_name, i.quantity,
       i.billing_cycle, i.unit_price, i.currency, e.subscription_id, i.order_id, i.id,
       coalesce(e.completed_at, e.updated_at), coalesce(e.completed_at, e.updated_at)
FROM executions e
JOIN order_items i ON i.order_id = e.order_id AND i.id = e.item_id
JOIN orders o ON o.id = e.order_id
WHERE e.status = 'Completed'
ORDER BY coalesce(e.completed_at, e.updated_at), e.item_id;

UPDATE order_items i SET subscription_id = s.id
FROM subscriptions s
WHERE i.order_id = s.order_id AND i.id = s.item_id;

UPDATE executions e SET subscription_id = s.id::text
FROM subscriptions s
WHERE e.item_id = s.item_id;
