CREATE INDEX `messages_sender_created_idx` ON `messages` (`sender_hash`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `messages_sender_hash_idx` ON `messages`;