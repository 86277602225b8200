ALTER TABLE `users` ADD `domain_key` varchar(253) GENERATED ALWAYS AS (coalesce(`domain`, '')) STORED;--> statement-breakpoint
ALTER TABLE `users` ADD CONSTRAINT `users_email_domain_uq` UNIQUE(`email`,`domain_key`);--> statement-breakpoint
ALTER TABLE `users` DROP INDEX `users_email_unique`;
