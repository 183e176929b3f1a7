"""`python -m idproof`: the `idproof` command, for a child process without the console script."""

from idproof.cli.main import app

if __name__ == "__main__":
    app(prog_name="idproof")
