-- Golden test: every MySQL/MariaDB column type sluice maps, through snapshot and binlog.
-- The part before "-- stream" runs before sluice starts (its rows are snapshot reads);
-- the part after runs while sluice streams. Statements end with ";" at the end of a line.
DROP TABLE IF EXISTS golden_types;
CREATE TABLE golden_types (
  id INT PRIMARY KEY,
  c_tiny TINYINT, c_tiny_u TINYINT UNSIGNED, c_small SMALLINT, c_small_u SMALLINT UNSIGNED,
  c_medium MEDIUMINT, c_medium_u MEDIUMINT UNSIGNED, c_int INT, c_int_u INT UNSIGNED,
  c_big BIGINT, c_big_u BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE,
  c_dec DECIMAL(12,2), c_dec_big DECIMAL(38,10), c_bit1 BIT(1), c_bit10 BIT(10), c_year YEAR,
  c_date DATE, c_time TIME, c_time6 TIME(6), c_dt DATETIME, c_dt3 DATETIME(3), c_dt6 DATETIME(6),
  c_ts TIMESTAMP NULL, c_ts6 TIMESTAMP(6) NULL,
  c_char CHAR(10), c_varchar VARCHAR(300), c_latin1 VARCHAR(20) CHARACTER SET latin1,
  c_binary BINARY(4), c_varbinary VARBINARY(10), c_blob BLOB, c_text TEXT,
  c_json JSON, c_enum ENUM('small','medium','large'), c_set SET('a','b','c'), c_geo GEOMETRY,
  c_point POINT
);
INSERT INTO golden_types VALUES (
  1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 1.5, -2.25e-10,
  1234567890.12, -12345678901234567890.0123456789, b'1', b'1010101010', 2024,
  '2024-02-29', '-838:59:59', '13:45:30.123456', '2024-02-29 13:45:30', '1999-12-31 23:59:59.999', '2024-02-29 13:45:30.123456',
  '2024-02-29 12:00:00', '2024-02-29 12:00:00.654321',
  'ab', 'hello "world"', _latin1 x'636166E9', x'00ff1020', x'0102', x'deadbeef', 'text',
  '{"a": [1, 2]}', 'medium', 'a,c', ST_GeomFromText('POINT(1 2)', 4326),
  ST_GeomFromText('POINT(1 2)', 4326)
);
INSERT INTO golden_types (id) VALUES (2);
-- stream
INSERT INTO golden_types VALUES (
  3, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0,
  9223372036854775807, 0, 0, 0,
  -0.01, 0, b'0', b'0000000001', 1970,
  '1970-01-01', '00:00:00', '838:59:59.000000', '1970-01-01 00:00:00', '2038-01-19 03:14:07.500', '9999-12-31 23:59:59.999999',
  '1970-01-01 00:00:01', '2038-01-19 03:14:07.999999',
  '', '', '', x'00000000', x'', x'', '',
  '[]', 'small', '', ST_GeomFromText('LINESTRING(0 0, 1 1)'),
  ST_GeomFromText('POINT(-1.5 2.25)')
);
UPDATE golden_types SET c_text = 'updated', c_dec = 0 WHERE id = 1;
UPDATE golden_types SET c_int = 7 WHERE id = 2;
DELETE FROM golden_types WHERE id = 3;
