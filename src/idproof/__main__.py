"""`python -m idproof`: the `idproof` command, for a child process without the console script."""

import sys


def _main() -> None:
    if sys.argv[1:3] == ["audit", "sequencer"]:
        # `idproof serve`'s child (cli/sequencer_process.py): the audit services only, not the
        # whole command line and every feature the container would import.
        from idproof.cli.sequencer_run import main

        raise SystemExit(main(sys.argv[3:]))
    from idproof.cli.main import app

    app(prog_name="idproof")


if __name__ == "__main__":
    _main()
