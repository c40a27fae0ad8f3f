-- Golden test: every PostgreSQL type sluice maps, through snapshot and stream.
-- The part before "-- stream" runs before sluice starts (its rows are snapshot
-- reads); the part after runs while sluice streams.
DROP TABLE IF EXISTS golden_types;
DROP TYPE IF EXISTS golden_mood;
DROP DOMAIN IF EXISTS golden_posint;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TYPE golden_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN golden_posint AS integer CHECK (VALUE > 0);
CREATE TABLE golden_types (
  id int PRIMARY KEY,
  c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8, c_float4 float4, c_float8 float8,
  c_numeric numeric(12,2), c_numeric_var numeric, c_money money,
  c_text text, c_varchar varchar(20), c_char char(5), c_bytea bytea,
  c_date date, c_time time, c_time3 time(3), c_timetz timetz,
  c_ts timestamp, c_ts3 timestamp(3), c_tstz timestamptz, c_interval interval,
  c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml, c_enum golden_mood,
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_bit1 bit(1), c_bit8 bit(8), c_varbit varbit,
  c_domain golden_posint, c_int_arr int[], c_text_arr text[], c_enum_arr golden_mood[],
  c_point point, c_hstore hstore, c_ltree ltree, c_tsvector tsvector,
  c_date_inf date, c_ts_inf timestamp, c_tstz_inf timestamptz, c_date_ninf date
);
INSERT INTO golden_types VALUES (
  1, true, -32768, 2147483647, -9223372036854775808, 1.5, -2.25e-10,
  12345678.91, 3.14159265358979323846, 1234.56,
  'hello "world"', 'varchar', 'ab', '\x00ff10',
  '2024-02-29', '13:45:30.123456', '01:02:03.456', '10:00:00+02',
  '2024-02-29 13:45:30.123456', '1999-12-31 23:59:59.999', '2024-02-29 13:45:30.5+01', '1 year 2 mons 3 days 04:05:06.5',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}}', '<x>1</x>', 'happy',
  '192.168.1.1', '10.0.0.0/8', '08:00:2b:01:02:03', B'1', B'10100101', B'101',
  42, '{1,2,NULL}', '{"a b","c\"d",NULL}', '{sad,happy}',
  '(1,2)', '"k1"=>"v1", "k2"=>NULL', 'Top.Science', 'a fat cat',
  'infinity', '-infinity', 'infinity', '-infinity'
);
INSERT INTO golden_types (id) VALUES (2);
-- stream
INSERT INTO golden_types VALUES (
  3, false, 0, -1, 1, 'NaN', 'Infinity',
  -0.01, -123456789012345678901234567890.123, -5.00,
  E'line\nbreak\ttab', '', 'x', '\x',
  '1969-07-20', '00:00:00', '23:59:59.999', '23:30:00-05:30',
  '1970-01-01 00:00:00', '2038-01-19 03:14:07.5', '1900-01-01 00:00:00+00', '-1 days -00:00:01',
  '00000000-0000-0000-0000-000000000000', '[]', '[]', '<y/>', 'sad',
  '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', B'0', B'00000000', B'',
  1, '{}', '{}', '{}',
  '(-1.5,2.25e-10)', '"z"=>"1", "aa"=>"a\"b"', 'A', '',
  '-infinity', 'infinity', '-infinity', 'infinity'
);
UPDATE golden_types SET c_text = 'updated', c_numeric = 0 WHERE id = 1;
UPDATE golden_types SET c_int4 = 7 WHERE id = 2;
DELETE FROM golden_types WHERE id = 3;
