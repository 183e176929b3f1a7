"""Authentication and authorization: tenants, OAuth2 clients, signing keys, access tokens."""
