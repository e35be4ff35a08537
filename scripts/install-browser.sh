#!/usr/bin/env bash
# Installs the browser the dashboard's end-to-end tests drive: Debian's `chromium`
# package at /usr/bin/chromium (Playwright's own browser downloads are not used, so
# `playwright install` is never needed). Idempotent: does nothing when it is there.
# For CI on Debian/Ubuntu; runs apt-get as root, or through sudo when not root.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install Chromium so that $CHROMIUM exists, then rerun the tests." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "Installing chromium needs root (or sudo): run this script as root." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
    echo "The chromium package did not provide $CHROMIUM." >&2
    exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
