"""AML / PEP / sanctions screening: list importers, name matching, snapshots, the search API."""
