"""Local stand-in of the downstream commerce platform (local runs and tests; never deployed).

Start it with `python -m local.sandbox`, or build it in-process with `create_app(db_path)`.
"""

from local.sandbox.app import create_app

__all__ = ["create_app"]
