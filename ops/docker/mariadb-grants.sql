-- Run once by the MariaDB image when it initialises its volume (docker-compose.yml), after it
-- created MARIADB_USER. The app creates its own databases, <DB_PREFIX>_main and
-- <DB_PREFIX>_<n> (DB_PREFIX coupon, and coupon_cluster for the cluster profile), with binary
-- collations, their tables and the checkout's stored procedures (npm run migrate:
-- core/schema.ts, core/collation.ts, core/checkout-routines.ts), so the user may create and
-- alter those databases and create and run routines in them; nothing outside them.
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, CREATE ROUTINE, ALTER ROUTINE, EXECUTE
  ON `coupon\_%`.* TO 'coupon'@'%';
