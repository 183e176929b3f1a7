"""The `idproof` command line: thin Typer commands over the services."""
