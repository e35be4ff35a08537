"""`python -m local.sandbox`: serve the platform sandbox for local runs.

SANDBOX_PORT (default 7072, the default PLATFORM_BASE_URL) and SANDBOX_DB (default
`.local/sandbox.db`) choose where it listens and where its state lives.
"""

from __future__ import annotations

import os

import uvicorn

from local.sandbox.app import create_app


def main() -> None:
    port = int(os.environ.get("SANDBOX_PORT", "7072"))
    db_path = os.environ.get("SANDBOX_DB", ".local/sandbox.db")
    app = create_app(db_path)
    print(f"sandbox platform on http://127.0.0.1:{port} (state: {db_path})", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
