-- When a dead letter was last put back (redrive or retry): max_age_ms counts from then.
-- Added last (no AFTER), instantly on MariaDB >= 10.3 and MySQL 8, as 0006.
ALTER TABLE `messages` ADD `requeued_at` datetime(3);