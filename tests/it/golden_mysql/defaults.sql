-- Golden test: column defaults in the Connect schemas ("default") and in tableChanges
-- (defaultValueExpression), in the snapshot and after an ALTER TABLE mid-stream. The part before
-- "-- stream" runs before sluice starts. Columns whose default is the current time are set to NULL in
-- the rows (their values would differ from run to run).
DROP TABLE IF EXISTS golden_defaults;
CREATE TABLE golden_defaults (
  id INT PRIMARY KEY,
  c_int INT DEFAULT 7, c_neg SMALLINT DEFAULT -3, c_u INT UNSIGNED DEFAULT 4000000000,
  c_str VARCHAR(20) DEFAULT 'it''s', c_dec DECIMAL(6,2) DEFAULT 1.5, c_enum ENUM('a','b') DEFAULT 'b',
  c_date DATE DEFAULT '2024-02-29', c_double DOUBLE DEFAULT 2.5, c_year YEAR DEFAULT 2020,
  c_ts TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, c_nn INT NOT NULL DEFAULT 0, c_none INT,
  c_dt DATETIME NULL DEFAULT CURRENT_TIMESTAMP, c_ts3 TIMESTAMP(3) NULL DEFAULT CURRENT_TIMESTAMP(3),
  c_bit BIT(1) DEFAULT b'1', c_bool BOOLEAN DEFAULT TRUE, c_char CHAR(3) DEFAULT 'ab', c_float FLOAT DEFAULT 1.25,
  c_time TIME DEFAULT '01:02:03', c_dtl DATETIME DEFAULT '2024-01-02 03:04:05', c_set SET('x','y') DEFAULT 'x,y'
);
INSERT INTO golden_defaults (id, c_ts, c_dt, c_ts3) VALUES (1, NULL, NULL, NULL);
-- stream
ALTER TABLE golden_defaults ADD COLUMN c_added INT DEFAULT 7;
INSERT INTO golden_defaults (id, c_ts, c_dt, c_ts3) VALUES (2, NULL, NULL, NULL);
