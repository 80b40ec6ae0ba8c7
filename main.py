"""`python main.py [command]` from a checkout: bluetick's command line (bluetick/cli.py), plus `simulate`."""

from __future__ import annotations

import sys

from bluetick import cli

TOOLS = {"simulate": "post a BSP's realistic traffic to a running service and check the rows"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:  # the simulator parses its own options (python main.py simulate --help)
        import simulator

        return simulator.main(argv[1:])
    return cli.main(argv, prog="python main.py", tools=TOOLS)


if __name__ == "__main__":
    sys.exit(main())
