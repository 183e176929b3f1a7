"""Console operators: accounts, mandatory MFA, sessions, roles and the access policy."""
