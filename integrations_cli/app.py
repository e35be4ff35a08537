"""`main()`: parse, run one command, turn failures into a red sentence and an exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from integrations_cli.client import Api, CliError, settings_from
from integrations_cli.context import Context, Handler
from integrations_cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    settings = settings_from(getattr(args, "url", None), getattr(args, "token", None))
    handler: Handler = args.handler
    try:
        with Api(settings) as api:
            return handler(Context(api, out, err), args)
    except CliError as error:
        err.print(Text(error.message, style="bold red"), soft_wrap=True)
        for detail in error.details:
            err.print(Text(f"  {detail}", style="red"), soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:
        err.print(Text("Interrupted.", style="dim"))
        return 130


if __name__ == "__main__":
    sys.exit(main())
