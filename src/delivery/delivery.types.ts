/** What the delivery side reports about itself. */
export interface DeliveryStats {
  /** Messages written to MySQL by this actor since it started. */
  stored: number;
  delivered: number;
  attempts_failed: number;
  retries_scheduled: number;
  dead_lettered: number;
  store_batches_failed: number;
  /**
   * Since when every store batch has failed (ISO), and the last failure in the broker's
   * words (`database error ER_OPTION_PREVENTS_STATEMENT`); null while batches are stored.
   * MySQL may answer a ping all along (read-only, a revoked grant, a full disk).
   */
  store_failing_since: string | null;
  store_error: string | null;
  /** Webhook attempts running or waiting for a slot right now. */
  in_flight: number;
}
