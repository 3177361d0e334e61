-- pgward sample database "shop": customers with (test) card numbers and orders.
-- Load as a superuser into an empty database named shop:
--   psql -v ON_ERROR_STOP=1 -d shop -f scripts/sample-shop.sql
-- All data is fake. Card numbers are the well-known Luhn-valid test numbers
-- (4111111111111111, 5555555555554444, 378282246310005, ...) and variants.
--
-- Roles (created NOLOGIN here; whoever runs the database gives them LOGIN and
-- a password, e.g. tests/lib/pgward_env.py does):
--   app_read   SELECT on the shop tables
--   app_write  SELECT, INSERT, UPDATE, DELETE on the shop tables
--   app_md5, app_pw, app_trust  members of app_read, used to exercise the
--              relay against the md5, password and trust auth methods.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['app_read', 'app_write', 'app_md5', 'app_pw', 'app_trust'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

GRANT app_read TO app_md5, app_pw, app_trust;

DROP TABLE IF EXISTS orders, customers, attachments;

CREATE TABLE customers (
  id          integer PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL UNIQUE,          -- constraint customers_email_key
  card_number text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers(id),
  amount      numeric(10,2) NOT NULL CHECK (amount > 0),
  status      text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'refunded', 'cancelled')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);

-- Binary payloads, for tests of large bytea values through the relay.
CREATE TABLE attachments (
  id          serial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  data        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO customers (id, name, email, card_number, created_at) VALUES
(1, 'Alice Smith', 'alice.smith1@example.com', '4111111111111111', timestamptz '2023-01-01 09:00:00+00' + interval '61 days 59697 seconds'),
(2, 'Bob Tanaka', 'bob.tanaka2@example.com', '5555555555554444', timestamptz '2023-01-01 09:00:00+00' + interval '216 days 62353 seconds'),
(3, 'Carol O''Brien', 'carol.obrien3@example.com', '378282246310005', timestamptz '2023-01-01 09:00:00+00' + interval '133 days 76560 seconds'),
(4, 'Dave Jones', 'dave.jones4@example.com', '4012888888881881', timestamptz '2023-01-01 09:00:00+00' + interval '122 days 55569 seconds'),
(5, 'Erin Okafor', 'erin.okafor5@example.com', '6011111111111117', timestamptz '2023-01-01 09:00:00+00' + interval '163 days 26492 seconds'),
(6, 'Frank Petrov', 'frank.petrov6@example.com', '6011111111116868', timestamptz '2023-01-01 09:00:00+00' + interval '40 days 46609 seconds'),
(7, 'Grace Garcia', 'grace.garcia7@example.com', '4111111111116490', timestamptz '2023-01-01 09:00:00+00' + interval '262 days 44107 seconds'),
(8, 'Heidi Silva', 'heidi.silva8@example.com', '4012888888880297', timestamptz '2023-01-01 09:00:00+00' + interval '129 days 16577 seconds'),
(9, 'Ivan Schmidt', 'ivan.schmidt9@example.com', '5555555555558494', timestamptz '2023-01-01 09:00:00+00' + interval '353 days 72649 seconds'),
(10, 'Judy Müller', 'judy.mueller10@example.com', '5105105105101547', timestamptz '2023-01-01 09:00:00+00' + interval '24 days 54189 seconds'),
(11, 'Mallory Dubois', 'mallory.dubois11@example.com', '378282246310997', timestamptz '2023-01-01 09:00:00+00' + interval '108 days 60565 seconds'),
(12, 'Niaj Costa', 'niaj.costa12@example.com', '6011111111110978', timestamptz '2023-01-01 09:00:00+00' + interval '135 days 40117 seconds'),
(13, 'Olivia Rossi', 'olivia.rossi13@example.com', '4111111111113141', timestamptz '2023-01-01 09:00:00+00' + interval '71 days 29463 seconds'),
(14, 'Peggy Larsen', 'peggy.larsen14@example.com', '4012888888889561', timestamptz '2023-01-01 09:00:00+00' + interval '28 days 54409 seconds'),
(15, 'Rupert Khan', 'rupert.khan15@example.com', '5555555555554246', timestamptz '2023-01-01 09:00:00+00' + interval '55 days 32963 seconds'),
(16, 'Sybil Novak', 'sybil.novak16@example.com', '5105105105105605', timestamptz '2023-01-01 09:00:00+00' + interval '34 days 27228 seconds'),
(17, 'Trent Nguyen', 'trent.nguyen17@example.com', '378282246310369', timestamptz '2023-01-01 09:00:00+00' + interval '311 days 54356 seconds'),
(18, 'Victor Lindqvist', 'victor.lindqvist18@example.com', '6011111111117833', timestamptz '2023-01-01 09:00:00+00' + interval '164 days 12187 seconds'),
(19, 'Walter Kowalski', 'walter.kowalski19@example.com', '4111111111116383', timestamptz '2023-01-01 09:00:00+00' + interval '344 days 32260 seconds'),
(20, 'Yvonne Haddad', 'yvonne.haddad20@example.com', '4012888888884968', timestamptz '2023-01-01 09:00:00+00' + interval '216 days 64098 seconds'),
(21, 'Zoe Smith', 'zoe.smith21@example.com', '5555555555556225', timestamptz '2023-01-01 09:00:00+00' + interval '34 days 43123 seconds'),
(22, 'Amir Tanaka', 'amir.tanaka22@example.com', '5105105105108666', timestamptz '2023-01-01 09:00:00+00' + interval '130 days 44994 seconds'),
(23, 'Bea O''Brien', 'bea.obrien23@example.com', '378282246310328', timestamptz '2023-01-01 09:00:00+00' + interval '199 days 68297 seconds'),
(24, 'Chen Jones', 'chen.jones24@example.com', '6011111111114236', timestamptz '2023-01-01 09:00:00+00' + interval '198 days 77351 seconds'),
(25, 'Dilnoza Okafor', 'dilnoza.okafor25@example.com', '4111111111118298', timestamptz '2023-01-01 09:00:00+00' + interval '238 days 81893 seconds'),
(26, 'Emeka Petrov', 'emeka.petrov26@example.com', '4012888888885718', timestamptz '2023-01-01 09:00:00+00' + interval '186 days 52760 seconds'),
(27, 'Farah Garcia', 'farah.garcia27@example.com', '5555555555558304', timestamptz '2023-01-01 09:00:00+00' + interval '204 days 35564 seconds'),
(28, 'Goran Silva', 'goran.silva28@example.com', '5105105105105746', timestamptz '2023-01-01 09:00:00+00' + interval '239 days 83248 seconds'),
(29, 'Hana Schmidt', 'hana.schmidt29@example.com', '378282246310104', timestamptz '2023-01-01 09:00:00+00' + interval '17 days 36462 seconds'),
(30, 'Ines Müller', 'ines.mueller30@example.com', '6011111111117205', timestamptz '2023-01-01 09:00:00+00' + interval '47 days 11164 seconds'),
(31, 'Alice Dubois', 'alice.dubois31@example.com', '4111111111118785', timestamptz '2023-01-01 09:00:00+00' + interval '335 days 10733 seconds'),
(32, 'Bob Costa', 'bob.costa32@example.com', '4012888888883754', timestamptz '2023-01-01 09:00:00+00' + interval '272 days 85962 seconds'),
(33, 'Carol Rossi', 'carol.rossi33@example.com', '5555555555555581', timestamptz '2023-01-01 09:00:00+00' + interval '69 days 18803 seconds'),
(34, 'Dave Larsen', 'dave.larsen34@example.com', '5105105105106090', timestamptz '2023-01-01 09:00:00+00' + interval '253 days 14919 seconds'),
(35, 'Erin Khan', 'erin.khan35@example.com', '378282246310872', timestamptz '2023-01-01 09:00:00+00' + interval '106 days 46157 seconds'),
(36, 'Frank Novak', 'frank.novak36@example.com', '6011111111118054', timestamptz '2023-01-01 09:00:00+00' + interval '164 days 69912 seconds'),
(37, 'Grace Nguyen', 'grace.nguyen37@example.com', '4111111111118371', timestamptz '2023-01-01 09:00:00+00' + interval '43 days 15366 seconds'),
(38, 'Heidi Lindqvist', 'heidi.lindqvist38@example.com', '4012888888883267', timestamptz '2023-01-01 09:00:00+00' + interval '342 days 38802 seconds'),
(39, 'Ivan Kowalski', 'ivan.kowalski39@example.com', '5555555555558593', timestamptz '2023-01-01 09:00:00+00' + interval '52 days 75481 seconds'),
(40, 'Judy Haddad', 'judy.haddad40@example.com', '5105105105108591', timestamptz '2023-01-01 09:00:00+00' + interval '162 days 7264 seconds'),
(41, 'Mallory Smith', 'mallory.smith41@example.com', '378282246310278', timestamptz '2023-01-01 09:00:00+00' + interval '89 days 46622 seconds'),
(42, 'Niaj Tanaka', 'niaj.tanaka42@example.com', '6011111111111083', timestamptz '2023-01-01 09:00:00+00' + interval '113 days 12435 seconds'),
(43, 'Olivia O''Brien', 'olivia.obrien43@example.com', '4111111111112127', timestamptz '2023-01-01 09:00:00+00' + interval '200 days 73473 seconds'),
(44, 'Peggy Jones', 'peggy.jones44@example.com', '4012888888884984', timestamptz '2023-01-01 09:00:00+00' + interval '154 days 29037 seconds'),
(45, 'Rupert Okafor', 'rupert.okafor45@example.com', '5555555555555722', timestamptz '2023-01-01 09:00:00+00' + interval '166 days 3729 seconds'),
(46, 'Sybil Petrov', 'sybil.petrov46@example.com', '5105105105102396', timestamptz '2023-01-01 09:00:00+00' + interval '318 days 73677 seconds'),
(47, 'Trent Garcia', 'trent.garcia47@example.com', '378282246310625', timestamptz '2023-01-01 09:00:00+00' + interval '202 days 27868 seconds'),
(48, 'Victor Silva', 'victor.silva48@example.com', '6011111111114947', timestamptz '2023-01-01 09:00:00+00' + interval '201 days 80956 seconds'),
(49, 'Walter Schmidt', 'walter.schmidt49@example.com', '4111111111111848', timestamptz '2023-01-01 09:00:00+00' + interval '185 days 58324 seconds'),
(50, 'Yvonne Müller', 'yvonne.mueller50@example.com', '4012888888885866', timestamptz '2023-01-01 09:00:00+00' + interval '157 days 77395 seconds');

-- 200 orders, deterministic pseudo-random spread over the customers.
INSERT INTO orders (customer_id, amount, status, created_at)
SELECT 1 + (i * 37) % 50,
       round(5 + ((i * 7919) % 49000) / 100.0, 2),
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'delivered', 'delivered', 'refunded', 'cancelled'])[1 + (i * 13) % 8],
       timestamptz '2023-03-01 08:00:00+00' + (i * 31 % 300) * interval '1 day' + (i * 4513 % 86400) * interval '1 second'
FROM generate_series(1, 200) AS i;

INSERT INTO attachments (name, data) VALUES
  ('hello.txt', convert_to('hello, world' || chr(10), 'UTF8')),
  ('zeros.bin', decode(repeat('00', 64), 'hex'));

ANALYZE customers, orders, attachments;

GRANT USAGE ON SCHEMA public TO app_read, app_write;
GRANT SELECT ON customers, orders, attachments TO app_read;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers, orders, attachments TO app_write;
GRANT USAGE, SELECT ON SEQUENCE orders_id_seq, attachments_id_seq TO app_write;
