-- Orders of one reseller. Every query is scoped by reseller_id and reads
-- through visible_orders, where an expired Draft no longer exists. Every
-- change writes its event (order_events) in the same statement.
-- Actor parameters: ($n actor_type, $n+1 client id) as in order_events.

-- name: order_create
WITH account AS (
    SELECT id, name FROM accounts WHERE id = $2::bigint AND reseller_id = $1::bigint
), inserted AS (
    INSERT INTO orders (reseller_id, account_id, order_date, expiration_date, notes)
    SELECT $1::bigint, account.id, $3::date, $3::date + 7, $4::text FROM account
    RETURNING *
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id)
    SELECT reseller_id, id, account_id, 'order.created', 'client', $5::text FROM inserted
)
SELECT o.id, o.account_id, account.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM inserted o, account;

-- name: order_get
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM visible_orders o JOIN accounts a ON a.id = o.account_id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint;

-- name: order_lock
-- Taken first by every change of an order that is not one guarded statement:
-- it serialises item changes, value changes, checkout and decisions of one
-- order, and answers the order as GET shows it (for If-Match).
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason, o.custom_fields
FROM visible_orders o JOIN accounts a ON a.id = o.account_id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
FOR UPDATE OF o;

-- name: order_lock_for_checkout
-- order_lock, and in the same round trip what the checkout checks
-- (checkout_context, 0014: called once the row is locked, so it reads the
-- items as they are then). $1 order, $2 reseller.
WITH locked AS MATERIALIZED (
    SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
           o.expiration_date, o.currency, o.total, o.item_count, o.notes,
           o.created_at, o.updated_at, o.checked_out_at,
           o.submitted_by, o.decided_by, o.cancellation_reason, o.custom_fields
    FROM visible_orders o JOIN accounts a ON a.id = o.account_id
    WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
    FOR UPDATE OF o
)
SELECT locked.*, context.items, context.fields
FROM locked, checkout_context(locked.id, $2::bigint) AS context;

-- name: order_state
-- Why a guarded statement matched nothing: read after it, without a lock.
SELECT status, currency, submitted_by FROM visible_orders
WHERE id = $1::bigint AND reseller_id = $2::bigint;

-- The three list queries share their parameters: $1 reseller, $2 stage
-- ('all' | 'draft' | 'confirmed'), $3 status or NULL, $4 $5 the date range or
-- NULLs, $6 $7 the keyset position (order_date, id) of the previous page's
-- last row or NULLs, $8 the page size (+1). Optional filters are written so
-- that one cached generic plan serves every combination of them: the date
-- range and the position are index conditions whatever values come, so a deep
-- page starts where it should instead of filtering its way down.

-- name: orders_page
-- Stage All or Confirmed, over the tenant's (reseller_id, order_date, id) index.
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM visible_orders o JOIN accounts a ON a.id = o.account_id
WHERE o.reseller_id = $1::bigint
  AND ($2::text = 'all'
       OR o.status NOT IN ('Draft', 'Reseller Pending Approval', 'Cancelled by Reseller'))
  AND ($3::text IS NULL OR o.status = $3::text)
  AND o.order_date >= coalesce($4::date, '-infinity'::date)
  AND o.order_date <= coalesce($5::date, 'infinity'::date)
  AND (o.order_date, o.id) < (coalesce($6::date, 'infinity'::date), coalesce($7::bigint, 9223372036854775807))
ORDER BY o.order_date DESC, o.id DESC
LIMIT $8::integer;

-- name: orders_page_drafts
-- Stage Draft, over the drafts-only partial index. ($2 is always 'draft'.)
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM visible_orders o JOIN accounts a ON a.id = o.account_id
WHERE o.reseller_id = $1::bigint AND o.status = 'Draft' AND $2::text = 'draft'
  AND ($3::text IS NULL OR o.status = $3::text)
  AND o.order_date >= coalesce($4::date, '-infinity'::date)
  AND o.order_date <= coalesce($5::date, 'infinity'::date)
  AND (o.order_date, o.id) < (coalesce($6::date, 'infinity'::date), coalesce($7::bigint, 9223372036854775807))
ORDER BY o.order_date DESC, o.id DESC
LIMIT $8::integer;

-- name: orders_page_account
-- Any stage, for one account ($9), over the (account_id, order_date, id) index.
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM visible_orders o JOIN accounts a ON a.id = o.account_id
WHERE o.account_id = $9::bigint AND o.reseller_id = $1::bigint
  AND ($2::text = 'all'
       OR ($2::text = 'draft' AND o.status = 'Draft')
       OR ($2::text = 'confirmed'
           AND o.status NOT IN ('Draft', 'Reseller Pending Approval', 'Cancelled by Reseller')))
  AND ($3::text IS NULL OR o.status = $3::text)
  AND o.order_date >= coalesce($4::date, '-infinity'::date)
  AND o.order_date <= coalesce($5::date, 'infinity'::date)
  AND (o.order_date, o.id) < (coalesce($6::date, 'infinity'::date), coalesce($7::bigint, 9223372036854775807))
ORDER BY o.order_date DESC, o.id DESC
LIMIT $8::integer;

-- name: order_refresh_totals
UPDATE orders o
SET total = t.total, item_count = t.item_count, currency = t.currency, updated_at = now()
FROM (
    SELECT coalesce(sum(total_price), 0) AS total, count(*)::integer AS item_count,
           min(currency) AS currency
    FROM order_items WHERE order_id = $1::bigint
) t
WHERE o.id = $1::bigint;

-- name: order_checkout
-- transition: Draft -> Pending
-- transition: Draft -> Reseller Pending Approval
-- $1 order, $2 reseller, $3 item deadline seconds, $4 the submitting client,
-- $5 whether the caller holds the order's lock and checked the order itself
-- (service.domain.orders' locked checkout, after subscriptions_claim).
-- Without that ($5 false), the statement checks for itself what the locked
-- checkout checks, for an order of purchases only: a visible Draft of this
-- reseller with items, every required custom field published to Storefront
-- and every required characteristic set; if not, it matches nothing (and
-- writes nothing), and the caller takes the locked path, which says why or
-- claims the subscriptions of change items first. It reads the items with
-- its snapshot, taken before it waits for the order's row, so the row it
-- updates must still be the version that snapshot saw (`seen`): every change
-- of a draft's items, values and characteristics writes the order's row, so
-- one that committed meanwhile makes it match nothing.
-- When the order's account requires approval (its approval_required, or the
-- reseller's when the account's is NULL), the order waits for a decision and
-- nothing executes; otherwise one execution record per item is created and
-- the poll job takes it from there. A change item's record names its
-- subscription from the start.
WITH seen AS (
    SELECT o.xmin AS version FROM orders o WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
), confirmed AS (
    UPDATE orders o
    SET status = CASE WHEN coalesce(a.approval_required, r.approval_required)
                      THEN 'Reseller Pending Approval' ELSE 'Pending' END,
        checked_out_at = now(), expiration_date = NULL, submitted_by = $4::text, updated_at = now()
    FROM resellers r, accounts a, seen
    WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint AND o.status = 'Draft' AND r.id = o.reseller_id
      AND a.id = o.account_id
      AND ($5::boolean OR (
          o.expiration_date >= current_date AND o.item_count > 0 AND o.xmin = seen.version
          AND NOT EXISTS (SELECT FROM order_items i
                          WHERE i.order_id = $1::bigint AND i.reseller_id = $2::bigint AND i.action <> 'purchase')
          AND NOT EXISTS (SELECT FROM order_items i JOIN products p ON p.id = i.product_id,
                                      jsonb_array_elements(p.characteristics) AS d
                          WHERE i.order_id = $1::bigint AND i.reseller_id = $2::bigint
                            AND (d ->> 'required')::boolean
                            AND coalesce(i.characteristics -> (d ->> 'name'), 'null') = 'null')
          AND NOT EXISTS (SELECT FROM custom_field_definitions d
                          WHERE d.reseller_id = $2::bigint AND d.published_to_storefront AND d.required
                            AND coalesce(o.custom_fields -> d.name, 'null') = 'null')))
    RETURNING o.*
), records AS (
    INSERT INTO executions (item_id, order_id, reseller_id, deadline_at, subscription_id)
    SELECT i.id, i.order_id, i.reseller_id, now() + make_interval(secs => $3::double precision),
           i.subscription_id::text
    FROM order_items i JOIN confirmed c ON c.id = i.order_id
    WHERE c.status = 'Pending' AND i.reseller_id = $2::bigint
), events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT c.reseller_id, c.id, c.account_id, e.type, 'client', $4::text, e.data
    FROM confirmed c, LATERAL (VALUES
        (1, 'order.checked_out', jsonb_build_object('itemCount', c.item_count, 'total', c.total::text,
                                                   'currency', c.currency)),
        (2, 'order.status_changed', jsonb_build_object('from', 'Draft', 'to', c.status)),
        (3, 'order.approval_requested', '{}'::jsonb)
    ) AS e(n, type, data)
    WHERE e.n < 3 OR c.status = 'Reseller Pending Approval'
    ORDER BY e.n
)
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM confirmed o JOIN accounts a ON a.id = o.account_id;

-- name: order_approve
-- transition: Reseller Pending Approval -> Pending
-- $1 order, $2 reseller, $3 item deadline seconds, $4 the approving client.
-- Four eyes: the submitter cannot approve. Execution starts as after a
-- checkout without approval. The subscriptions its change items name were
-- claimed by its checkout (subscriptions_claim) and stay claimed: no other
-- change of them can have been checked out meanwhile.
WITH approved AS (
    UPDATE orders
    SET status = 'Pending', decided_by = $4::text, updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Reseller Pending Approval'
      AND submitted_by IS DISTINCT FROM $4::text
    RETURNING *
), records AS (
    INSERT INTO executions (item_id, order_id, reseller_id, deadline_at, subscription_id)
    SELECT i.id, i.order_id, i.reseller_id, now() + make_interval(secs => $3::double precision),
           i.subscription_id::text
    FROM order_items i JOIN approved c ON c.id = i.order_id
    WHERE i.reseller_id = $2::bigint
), events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT c.reseller_id, c.id, c.account_id, e.type, 'client', $4::text, e.data
    FROM approved c, LATERAL (VALUES
        (1, 'order.approved', '{}'::jsonb),
        (2, 'order.status_changed', jsonb_build_object('from', 'Reseller Pending Approval', 'to', 'Pending'))
    ) AS e(n, type, data)
    ORDER BY e.n
)
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM approved o JOIN accounts a ON a.id = o.account_id;

-- name: order_cancel
-- transition: Reseller Pending Approval -> Cancelled by Reseller
-- $1 order, $2 reseller, $3 reason (may be null), $4 the deciding client.
-- The submitter may cancel its own order. The subscriptions its change items
-- claimed at checkout are free for other changes again.
WITH cancelled AS (
    UPDATE orders
    SET status = 'Cancelled by Reseller', decided_by = $4::text, cancellation_reason = $3::text,
        updated_at = now()
    WHERE id = $1::bigint AND reseller_id = $2::bigint AND status = 'Reseller Pending Approval'
    RETURNING *
), released AS (
    UPDATE subscriptions s SET pending_order_id = NULL
    FROM cancelled c, order_items i
    WHERE i.order_id = c.id AND i.reseller_id = $2::bigint AND i.action <> 'purchase'
      AND s.id = i.subscription_id AND s.pending_order_id = c.id
), events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT c.reseller_id, c.id, c.account_id, e.type, 'client', $4::text, e.data
    FROM cancelled c, LATERAL (VALUES
        (1, 'order.cancelled', jsonb_build_object('reason', $3::text)),
        (2, 'order.status_changed',
            jsonb_build_object('from', 'Reseller Pending Approval', 'to', 'Cancelled by Reseller'))
    ) AS e(n, type, data)
    ORDER BY e.n
)
SELECT o.id, o.account_id, a.name AS account_name, o.status, o.order_date,
       o.expiration_date, o.currency, o.total, o.item_count, o.notes,
       o.created_at, o.updated_at, o.checked_out_at,
       o.submitted_by, o.decided_by, o.cancellation_reason
FROM cancelled o JOIN accounts a ON a.id = o.account_id;

-- name: order_execution
-- An order and its execution records in one round trip, the records as
-- parallel arrays (NULL when there are none).
SELECT o.id, o.status, o.updated_at, o.started_at, o.completed_at,
       array_agg(e.item_id ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS item_ids,
       array_agg(e.status ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS statuses,
       array_agg(e.message ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS messages,
       array_agg(e.subscription_id ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS subscription_ids,
       array_agg(e.updated_at ORDER BY e.item_id) FILTER (WHERE e.item_id IS NOT NULL) AS updated
FROM visible_orders o
LEFT JOIN executions e ON e.order_id = o.id
WHERE o.id = $1::bigint AND o.reseller_id = $2::bigint
GROUP BY o.id, o.status, o.updated_at, o.started_at, o.completed_at;

-- name: order_set_custom_fields
-- Under the order's lock, after validation. $3 the names changed, $4 client.
WITH changed AS (
    UPDATE orders
    SET custom_fields = jsonb_strip_nulls(custom_fields || $2::jsonb), updated_at = now()
    WHERE id = $1::bigint AND status = 'Draft'
    RETURNING id, reseller_id, account_id, custom_fields
), event AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, actor_client_id, data)
    SELECT reseller_id, id, account_id, 'order.values_changed', 'client', $4::text,
           jsonb_build_object('customFields', $3::text[])
    FROM changed
)
SELECT custom_fields FROM changed;

-- name: customfields_published
SELECT name, label, type, required, options FROM custom_field_definitions
WHERE reseller_id = $1::bigint AND published_to_storefront
ORDER BY name;

-- name: order_custom_fields
SELECT custom_fields FROM visible_orders
WHERE id = $1::bigint AND reseller_id = $2::bigint;
