"""Webhooks: endpoints, the transactional outbox, Standard Webhooks signing, SSRF-safe delivery."""
