#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the dashboard's end-to-end tests.
# Idempotent and quiet when /usr/bin/chromium already exists. Never downloads a
# browser build of its own (no `playwright install`): tests launch this binary
# through Playwright's executable_path.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser.sh: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser.sh: installing Debian's chromium ..." >&2
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser.sh: $CHROMIUM still missing after apt-get install" >&2
    exit 1
fi
echo "install-browser.sh: $($CHROMIUM --version 2>/dev/null || echo chromium installed)" >&2
