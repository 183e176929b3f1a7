"""Data-subject rights and data lifecycle: export, erasure, retention, legal holds, consent."""
