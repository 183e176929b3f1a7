"""ID documents: MRZ (ICAO 9303) and AAMVA barcode reading, and synthetic test documents."""
