-- Tenancy, catalog, orders, items and execution records.
-- Every tenant-owned row carries reseller_id so each query can scope by it
-- in its WHERE clause without extra joins.

CREATE TABLE service_keys (
    name       text PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The token-signing key is created once, in the database, so every replica
-- shares it without any configuration. gen_random_uuid() draws from the
-- server's strong random source (122 random bits per uuid).
INSERT INTO service_keys (name, secret)
VALUES ('token_signing',
        replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

CREATE TABLE resellers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    edition     text NOT NULL CHECK (edition IN ('Free', 'Standard')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id bigint NOT NULL REFERENCES resellers (id),
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('Reseller', 'Customer')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_reseller_idx ON accounts (reseller_id, id);
-- One own account per reseller.
CREATE UNIQUE INDEX accounts_one_own_idx ON accounts (reseller_id) WHERE type = 'Reseller';

CREATE TABLE credentials (
    client_id   text PRIMARY KEY,
    reseller_id bigint NOT NULL REFERENCES resellers (id),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX credentials_reseller_idx ON credentials (reseller_id);

CREATE TABLE products (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku             text NOT NULL UNIQUE,
    name            text NOT NULL,
    billing_cycles  text[] NOT NULL,
    -- {"Monthly": "12.50", ...}: one price per billing cycle, decimal strings.
    unit_prices     jsonb NOT NULL,
    currency        text NOT NULL,
    -- [{"name","label","type","required","options"}]
    characteristics jsonb NOT NULL DEFAULT '[]',
    -- {"type": "instant"} | {"type": "http", "url": "..."}
    fulfillment     jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE custom_field_definitions (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id             bigint NOT NULL REFERENCES resellers (id),
    name                    text NOT NULL,
    label                   text NOT NULL,
    type                    text NOT NULL,
    required                boolean NOT NULL DEFAULT false,
    options                 text[] NOT NULL DEFAULT '{}',
    published_to_storefront boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reseller_id, name)
);

CREATE TABLE orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id     bigint NOT NULL REFERENCES resellers (id),
    account_id      bigint NOT NULL REFERENCES accounts (id),
    status          text NOT NULL DEFAULT 'Draft',
    order_date      date NOT NULL,
    expiration_date date,
    currency        text,
    total           numeric(20, 2) NOT NULL DEFAULT 0,
    item_count      integer NOT NULL DEFAULT 0,
    notes           text,
    -- {name: value} for the reseller's custom fields
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    checked_out_at  timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz
);
-- Keyset pages, newest first, per tenant / per account / drafts only.
CREATE INDEX orders_reseller_page_idx ON orders (reseller_id, order_date DESC, id DESC);
CREATE INDEX orders_account_page_idx ON orders (account_id, order_date DESC, id DESC);
CREATE INDEX orders_draft_page_idx ON orders (reseller_id, order_date DESC, id DESC)
    WHERE status = 'Draft';
-- The expiry job walks expired drafts in batches.
CREATE INDEX orders_draft_expiry_idx ON orders (expiration_date, id) WHERE status = 'Draft';
-- The poll job finds orders still executing.
CREATE INDEX orders_executing_idx ON orders (id) WHERE status IN ('Pending', 'In Progress');

CREATE TABLE order_items (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    reseller_id     bigint NOT NULL REFERENCES resellers (id),
    product_id      bigint NOT NULL REFERENCES products (id),
    sku             text NOT NULL,
    product_name    text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    billing_cycle   text NOT NULL,
    unit_price      numeric(14, 2) NOT NULL,
    total_price     numeric(20, 2) NOT NULL,
    currency        text NOT NULL,
    -- {name: value} for the product's characteristics
    characteristics jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_items_order_idx ON order_items (order_id, id);

-- One execution record per item, created at checkout. The poll job claims
-- due rows with FOR UPDATE SKIP LOCKED and a lease (lease_until).
CREATE TABLE executions (
    item_id         bigint PRIMARY KEY REFERENCES order_items (id) ON DELETE CASCADE,
    order_id        bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'Pending'
                    CHECK (status IN ('Pending', 'In Progress', 'Completed', 'Failed')),
    message         text,
    subscription_id text,
    operation_id    text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    deadline_at     timestamptz NOT NULL,
    started_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_order_idx ON executions (order_id, item_id);
CREATE INDEX executions_due_idx ON executions (next_attempt_at)
    WHERE status IN ('Pending', 'In Progress');
