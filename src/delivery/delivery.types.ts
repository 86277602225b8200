/** What the delivery side reports about itself. */
export interface DeliveryStats {
  /** Messages written to MySQL by this actor since it started. */
  stored: number;
  delivered: number;
  attempts_failed: number;
  retries_scheduled: number;
  dead_lettered: number;
  store_batches_failed: number;
  /** Webhook attempts running or waiting for a slot right now. */
  in_flight: number;
}
