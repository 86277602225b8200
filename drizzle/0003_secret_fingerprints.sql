CREATE TABLE `secret_fingerprints` (
	`kind` enum('key','pepper','ca') NOT NULL,
	`secret_id` varchar(64) NOT NULL,
	`fingerprint` char(64) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `secret_fingerprints_kind_id_unique` UNIQUE(`kind`,`secret_id`)
);
