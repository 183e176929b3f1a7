"""The operator console's work pages: review queue and cases, sessions, dashboard."""
