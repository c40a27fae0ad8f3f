-- sluice outbox for MariaDB / MySQL (docs/outbox.md). The binlog must be in
-- ROW format with full row images (binlog_format=ROW, binlog_row_image=FULL).
-- Connector: table.include.list=<db>.outbox and the EventRouter with
--   table.field.event.key=aggregate_id, route.by.field=aggregate_type,
--   table.field.event.type=event_type,
--   table.field.event.timestamp=created_at,
--   table.fields.additional.placement=event_type:header:type
-- The id is a UUID in 16 bytes; the router sends it as UUID text in header `id`
-- (binary.handling.mode=bytes, the default).
CREATE TABLE IF NOT EXISTS outbox (
    id             BINARY(16)   NOT NULL PRIMARY KEY,
    aggregate_type VARCHAR(255) NOT NULL,
    aggregate_id   VARCHAR(255) NOT NULL,
    event_type     VARCHAR(255) NOT NULL,
    payload        JSON,
    metadata       JSON,
    created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);

-- Writing an event, inside the application's transaction:
--   INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload)
--   VALUES (UNHEX(REPLACE(UUID(), '-', '')), 'Order', '17', 'OrderCreated', '{"total": 12}');
