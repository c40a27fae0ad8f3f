-- sluice outbox for PostgreSQL (docs/outbox.md): the outbox table, and the
-- table-less variant (recommended) as a function around pg_logical_emit_message.
-- Run once per database; both parts are independent.

-- ---- Table variant -------------------------------------------------------
-- Connector: table.include.list=public.outbox and the EventRouter with
--   table.field.event.key=aggregate_id, route.by.field=aggregate_type,
--   table.field.event.type=event_type,
--   table.field.event.timestamp=created_at,
--   table.fields.additional.placement=event_type:header:type
CREATE TABLE IF NOT EXISTS outbox (
    id             uuid PRIMARY KEY,
    aggregate_type varchar(255) NOT NULL,
    aggregate_id   varchar(255) NOT NULL,
    event_type     varchar(255) NOT NULL,
    payload        jsonb,
    metadata       jsonb,
    created_at     timestamptz(6) NOT NULL DEFAULT now()
);

-- Writing an event, inside the application's transaction:
--   INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload)
--   VALUES (gen_random_uuid(), 'Order', '17', 'OrderCreated', '{"total": 12}');

-- ---- Table-less variant (no table, nothing to purge) -----------------------
-- Connector: the EventRouter with message.prefix=outbox and
--   table.field.event.timestamp=timestamp (message.only=true when the
--   connector captures other tables too).
-- Returns the event id. transactional=true: the event exists only if the
-- caller's transaction commits, in commit order with its row changes.
CREATE OR REPLACE FUNCTION sluice_outbox_emit(
    p_aggregate_type text, p_aggregate_id text, p_event_type text, p_payload jsonb,
    p_headers jsonb DEFAULT NULL, p_prefix text DEFAULT 'outbox')
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    PERFORM pg_logical_emit_message(true, p_prefix, (
        jsonb_build_object('id', v_id, 'aggregatetype', p_aggregate_type, 'aggregateid', p_aggregate_id,
                           'type', p_event_type,
                           'timestamp', (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                           'payload', p_payload)
        || CASE WHEN p_headers IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('headers', p_headers) END)::text);
    RETURN v_id;
END
$$;

-- Writing an event, inside the application's transaction:
--   SELECT sluice_outbox_emit('Order', '17', 'OrderCreated', '{"total": 12}');
