#!/usr/bin/env bash
# Installs what building and testing fd-fetch needs, skipping whatever is already here.
# Idempotent: every command of the project runs it first, so a fresh machine needs nothing by hand.
#   scripts/setup.sh          toolchain for the build (wasm target, wasm-bindgen CLI, npm packages)
#   scripts/setup.sh --test   the same, plus Chromium and ChromeDriver for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# The CLI must match the wasm-bindgen crate exactly; the version is read from Cargo.toml's pin.
want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found '${have:-none}'); about 3 minutes on 2 cores"
  # No --locked: the registry mirror lacks some versions the CLI's lock file names.
  cargo install wasm-bindgen-cli --version "$want" >&2
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/tsc ] || [ ! -d node_modules/playwright-core ] || [ ! -e node_modules/fd-fetch ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund >&2
fi

if [ "${1:-}" = "--test" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  say "installing Debian's chromium and chromium-driver"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >&2
fi
