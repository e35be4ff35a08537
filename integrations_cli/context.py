"""What every command gets: the API client and the two consoles."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from integrations_cli.client import Api


@dataclass
class Context:
    api: Api
    out: Console  # results, on stdout
    err: Console  # errors and warnings, on stderr


Handler = Callable[[Context, argparse.Namespace], int]
