"""``python -m trainwell`` (and the ``trainwell`` command): the command line of
:mod:`trainwell.cli`.

``trainwell doctor [--json FILE] -- COMMAND ...`` starts without the full command line's
imports (typer, pydantic and the config schema: ~0.2 s of CPU before the script even
starts): :func:`trainwell.doctor.command.main_fast` runs it, and hands every other form of
the command (``--help``, a bad option, an error to report) back to the full command line.
"""

import sys


def main() -> None:
    """Run the command line on ``sys.argv``."""
    try:
        if sys.argv[1:2] == ["doctor"]:
            from trainwell.doctor.command import main_fast

            code = main_fast(sys.argv[2:])
            if code is not None:
                sys.exit(code)
        from trainwell.cli import main as cli_main
    except KeyboardInterrupt:  # Ctrl-C while the command line itself is imported
        sys.stderr.write("trainwell: interrupted\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
