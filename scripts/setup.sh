#!/usr/bin/env bash
# Installs what building and testing fd-fetch needs, skipping whatever is already here.
# Idempotent: every command of the project runs it first, so a fresh machine needs nothing by hand.
#   scripts/setup.sh          toolchain for the build (wasm target, wasm-bindgen CLI, npm packages)
#   scripts/setup.sh --test   the same, plus the three browser engines the tests run in: Chromium
#                             and ChromeDriver, Firefox ESR and geckodriver, WebKitGTK's
#                             WebKitWebDriver (with its MiniBrowser) and Xvfb for its display
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# The CLI must match the wasm-bindgen crate exactly; the version is read from Cargo.toml's pin.
want=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found '${have:-none}'); about 3 minutes on 2 cores"
  # No --locked: the registry mirror lacks some versions the CLI's lock file names.
  cargo install wasm-bindgen-cli --version "$want" >&2
fi

# Also when package-lock.json changed since the last install (a pull that adds a package, as axios was):
# its digest is kept beside the install. A digest, not the files' times: a fresh checkout of the same
# lock file (a git worktree sharing this node_modules through a link) must not wipe the install.
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/tsc ] || [ ! -d node_modules/playwright-core ] || [ ! -e node_modules/fd-fetch ] \
  || [ "$(cat node_modules/.fd-lock-digest 2>/dev/null)" != "$lock" ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund >&2
  echo "$lock" > node_modules/.fd-lock-digest
fi

[ "${1:-}" = "--test" ] || exit 0

# One `apt-get update` for every Debian package missing.
apt=()
[ -x /usr/bin/chromium ] || apt+=(chromium)
[ -x /usr/bin/chromedriver ] || apt+=(chromium-driver)
[ -x /usr/bin/firefox-esr ] || apt+=(firefox-esr)
# WebKitWebDriver; MiniBrowser comes with the libwebkit2gtk package it depends on.
{ [ -x /usr/bin/WebKitWebDriver ] && [ -x /usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser ]; } || apt+=(webkit2gtk-driver)
[ -x /usr/bin/Xvfb ] || apt+=(xvfb)
if [ ${#apt[@]} -gt 0 ]; then
  say "installing Debian's ${apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt[@]}" >&2
fi

# geckodriver is not packaged by Debian 12; crates.io has it. Pinned: the version the tests were
# checked with (Firefox ESR 153). No --locked, as for wasm-bindgen-cli.
gecko_want=0.37.1
gecko_have=$("$HOME/.cargo/bin/geckodriver" --version 2>/dev/null | awk 'NR==1 {print $2}' || true)
if [ "$gecko_have" != "$gecko_want" ]; then
  say "installing geckodriver $gecko_want (found '${gecko_have:-none}'); about 4 minutes on 2 cores"
  cargo install geckodriver --version "$gecko_want" >&2
fi
