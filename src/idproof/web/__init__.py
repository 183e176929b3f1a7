"""The HTTP edge: app factory, middleware, error mapping, dependencies."""
