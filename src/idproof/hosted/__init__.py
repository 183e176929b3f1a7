"""The hosted verification flow (end-user pages at /verify/...) and the web SDK."""
