-- Executions carry their tenant like every other tenant-owned row, so every
-- query can be scoped by reseller_id and the table can be distributed by it
-- (see the README's "Scaling out"). Filled from the items they execute.
ALTER TABLE executions ADD COLUMN reseller_id bigint REFERENCES resellers (id);
UPDATE executions e SET reseller_id = i.reseller_id FROM order_items i WHERE i.id = e.item_id;
ALTER TABLE executions ALTER COLUMN reseller_id SET NOT NULL;
