-- Draft expiry at scale: a million expired drafts deleted in well under a
-- minute (sql/queries/expiry.sql, service/execution/expiry.py).

-- The job walks expired drafts in id order: drafts with neighbouring ids share
-- heap pages of orders and order_items and leaf pages of their indexes, so a
-- batch of 1,000 touches tens of pages instead of one per draft as the walk in
-- (expiration_date, id) order did. expiration_date is in the key so a draft
-- that has not expired yet is passed over in the index, without a visit to
-- the table.
CREATE INDEX orders_draft_walk_idx ON orders (id, expiration_date) WHERE status = 'Draft';
DROP INDEX orders_draft_expiry_idx;

-- An execution references its item and the item's order with one foreign key,
-- (order_id, item_id) to the item's (order_id, id), instead of one to the item
-- and one to the order. Each foreign key costs a trigger call per deleted row
-- of the table it references: deleting an order now fires one (its items)
-- instead of two, and each item still one (its executions). It also says
-- more: an execution's order is always its item's order. The index on
-- (order_id, id) was already there; it becomes unique (it always was, id
-- being the primary key) so the key can reference it.
DROP INDEX order_items_order_idx;
CREATE UNIQUE INDEX order_items_order_idx ON order_items (order_id, id);
ALTER TABLE executions
    DROP CONSTRAINT executions_order_id_fkey,
    DROP CONSTRAINT executions_item_id_fkey,
    ADD CONSTRAINT executions_item_fkey FOREIGN KEY (order_id, item_id)
        REFERENCES order_items (order_id, id) ON DELETE CASCADE;
