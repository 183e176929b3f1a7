"""Security controls: client IP resolution, IP allowlists, brute-force blocking."""
