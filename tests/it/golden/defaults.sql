-- Golden test: column defaults in the Connect schemas ("default"), and nulls of such columns (which
-- JsonConverter writes as the default), through snapshot and stream. Columns whose default is the current
-- time or a sequence are set explicitly in the rows (their values would differ from run to run).
DROP TABLE IF EXISTS golden_defaults;
DROP TYPE IF EXISTS golden_dmood;
CREATE TYPE golden_dmood AS ENUM ('sad', 'ok');
CREATE TABLE golden_defaults (
  id int PRIMARY KEY,
  c_int4 int4 DEFAULT 7, c_neg int2 DEFAULT -3, c_int8 int8 DEFAULT 4000000000, c_bool bool DEFAULT true,
  c_text text DEFAULT 'it''s', c_varchar varchar(10) DEFAULT 'v', c_char char(3) DEFAULT 'ab',
  c_numeric numeric(6,2) DEFAULT 1.5, c_float8 float8 DEFAULT 2.5, c_float4 float4 DEFAULT 1.25,
  c_date date DEFAULT '2024-02-29', c_ts timestamp DEFAULT '2024-01-02 03:04:05',
  c_tstz timestamptz DEFAULT now(), c_time time DEFAULT '01:02:03', c_uuid uuid DEFAULT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  c_enum golden_dmood DEFAULT 'ok', c_serial serial, c_nn int4 NOT NULL DEFAULT 0, c_none int4,
  c_json jsonb DEFAULT '{"a": 1}', c_expr int4 DEFAULT (1 + 2), c_interval interval DEFAULT '1 day'
);
INSERT INTO golden_defaults (id, c_tstz, c_serial) VALUES (1, '2024-02-29 12:00:00+00', 1);
INSERT INTO golden_defaults (id, c_int4, c_text, c_numeric, c_date, c_tstz, c_serial, c_enum)
  VALUES (2, NULL, NULL, NULL, NULL, NULL, 2, NULL);
-- stream
INSERT INTO golden_defaults (id, c_tstz, c_serial) VALUES (3, '2024-02-29 12:00:00+00', 3);
INSERT INTO golden_defaults (id, c_int4, c_text, c_bool, c_tstz, c_serial, c_uuid) VALUES (4, NULL, NULL, NULL, NULL, 4, NULL);
UPDATE golden_defaults SET c_varchar = NULL WHERE id = 1;
