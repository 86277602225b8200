CREATE TABLE `audit_log` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`actor` varchar(255) NOT NULL,
	`action` varchar(64) NOT NULL,
	`target_type` varchar(32) NOT NULL,
	`target_id` varchar(128),
	`domain` varchar(253),
	`ip` varchar(64),
	`details` json,
	CONSTRAINT `audit_log_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `certificates` (
	`id` int unsigned AUTO_INCREMENT NOT NULL,
	`serial` varchar(64) NOT NULL,
	`client_id` int unsigned NOT NULL,
	`fingerprint` char(64) NOT NULL,
	`subject_cn` varchar(320) NOT NULL,
	`not_before` datetime(3) NOT NULL,
	`not_after` datetime(3) NOT NULL,
	`status` enum('active','revoked','expired') NOT NULL DEFAULT 'active',
	`revoked_at` datetime(3),
	`reason` varchar(64),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `certificates_id` PRIMARY KEY(`id`),
	CONSTRAINT `certificates_serial_unique` UNIQUE(`serial`),
	CONSTRAINT `certificates_fingerprint_unique` UNIQUE(`fingerprint`)
);
--> statement-breakpoint
CREATE TABLE `clients` (
	`id` int unsigned AUTO_INCREMENT NOT NULL,
	`name` varchar(64) NOT NULL,
	`domain` varchar(253) NOT NULL,
	`status` enum('active','disabled') NOT NULL DEFAULT 'active',
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `clients_id` PRIMARY KEY(`id`),
	CONSTRAINT `clients_name_domain_uq` UNIQUE(`name`,`domain`)
);
--> statement-breakpoint
CREATE TABLE `messages` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`message_id` char(36) NOT NULL,
	`client_id` int unsigned NOT NULL,
	`domain` varchar(253) NOT NULL,
	`sender_hash` char(64) NOT NULL,
	`pepper_id` varchar(32) NOT NULL,
	`sender_masked` varchar(24) NOT NULL,
	`sender_enc` varbinary(512) NOT NULL,
	`body_enc` blob NOT NULL,
	`key_id` varchar(32) NOT NULL,
	`metadata` json,
	`status` enum('queued','delivered','failed') NOT NULL DEFAULT 'queued',
	`attempt_count` int unsigned NOT NULL DEFAULT 0,
	`last_error` varchar(512),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`queued_at` datetime(3) NOT NULL,
	`delivered_at` datetime(3),
	`next_attempt_at` datetime(3),
	CONSTRAINT `messages_id` PRIMARY KEY(`id`),
	CONSTRAINT `messages_message_id_unique` UNIQUE(`message_id`)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` int unsigned AUTO_INCREMENT NOT NULL,
	`email` varchar(254) NOT NULL,
	`password_hash` varchar(255) NOT NULL,
	`role` enum('user','admin','superadmin') NOT NULL DEFAULT 'user',
	`client_id` int unsigned,
	`domain` varchar(253),
	`token_version` int unsigned NOT NULL DEFAULT 0,
	`failed_logins` int unsigned NOT NULL DEFAULT 0,
	`locked_until` datetime(3),
	`last_login_at` datetime(3),
	`disabled` boolean NOT NULL DEFAULT false,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `users_id` PRIMARY KEY(`id`),
	CONSTRAINT `users_email_unique` UNIQUE(`email`)
);
--> statement-breakpoint
ALTER TABLE `certificates` ADD CONSTRAINT `certificates_client_fk` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `audit_log_at_idx` ON `audit_log` (`at`);--> statement-breakpoint
CREATE INDEX `audit_log_domain_at_idx` ON `audit_log` (`domain`,`at`);--> statement-breakpoint
CREATE INDEX `certificates_client_idx` ON `certificates` (`client_id`);--> statement-breakpoint
CREATE INDEX `certificates_status_not_after_idx` ON `certificates` (`status`,`not_after`);--> statement-breakpoint
CREATE INDEX `messages_client_created_idx` ON `messages` (`client_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `messages_domain_created_idx` ON `messages` (`domain`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `messages_status_domain_created_idx` ON `messages` (`status`,`domain`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_sender_hash_idx` ON `messages` (`sender_hash`);--> statement-breakpoint
CREATE INDEX `messages_key_id_idx` ON `messages` (`key_id`);