"""Console single sign-on pages (OpenID Connect)."""
