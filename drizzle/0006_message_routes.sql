-- The target and route chosen at submit. Added last (no AFTER): MariaDB ≥ 10.3 and MySQL 8
-- add such columns instantly, without rebuilding a large messages table.
ALTER TABLE `messages` ADD `target` varchar(32) DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `route` varchar(32);--> statement-breakpoint
ALTER TABLE `messages` ADD `route_match` varchar(255);
