"""The durable job worker: claims outbox rows, runs their handlers, retries with backoff."""
