-- What a checkout checks (service.domain.orders), read in the round trip
-- that locks the order (order_lock_for_checkout): its items with their
-- products' characteristic definitions, and the reseller's custom fields
-- published to Storefront.
--
-- A function, VOLATILE, so each of its statements reads with a snapshot taken
-- when it runs: order_lock_for_checkout calls it once the order's row is
-- locked, so it sees every item an add that committed while the checkout
-- waited for that lock put in. A subquery of the locking statement itself
-- would read with the statement's snapshot, taken before the wait, and miss it.
CREATE FUNCTION checkout_context(p_order_id bigint, p_reseller_id bigint, OUT items jsonb, OUT fields jsonb)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'action', i.action,
                                                 'item_values', i.characteristics,
                                                 'definitions', p.characteristics) ORDER BY i.id), '[]'::jsonb)
    INTO items
    FROM order_items i JOIN products p ON p.id = i.product_id
    WHERE i.order_id = p_order_id AND i.reseller_id = p_reseller_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('name', d.name, 'required', d.required) ORDER BY d.name),
                    '[]'::jsonb)
    INTO fields
    FROM custom_field_definitions d
    WHERE d.reseller_id = p_reseller_id AND d.published_to_storefront;
END;
$$;
