"""``python -m earmark`` and the ``earmark`` command.

The command-line modules are imported only when the command runs: worker processes re-import
the entry script, and should not pay for torch, scikit-learn and the rest on every start.
"""


def main() -> None:
    from earmark.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
