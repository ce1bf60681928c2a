#!/usr/bin/env bash
# The book in a browser: builds it (cargo run --release -- book --no-bench)
# and opens every page in headless Chromium (tests/browser/check-book.js says
# what fails). Installs what is missing: Debian's chromium and nodejs (apt,
# as root), playwright-core at the version pinned in package-lock.json (npm ci).
# Where it cannot install them it says so and skips, exit 0.
# Screenshots go to $BROWSER_ARTIFACTS (default target/browser-artifacts).
# SKIP_BOOK_BUILD=1 uses the book already in book/build.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/browser
artifacts=${BROWSER_ARTIFACTS:-target/browser-artifacts}

skip() { echo "SKIPPED (browser test): $*"; exit 0; }
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    skip "$1 is missing and cannot be installed here (Debian as root: apt-get install $2)"
  fi
  echo "installing $2 (apt-get) ..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null \
    || skip "apt-get install $2 failed"
}

command -v node >/dev/null || apt_install node nodejs
command -v npm >/dev/null || apt_install npm npm
command -v chromium >/dev/null || apt_install chromium chromium

pinned=$(node -e 'console.log(require("./'$here'/package-lock.json").packages["node_modules/playwright-core"].version)')
have=$(node -e 'try{console.log(require("./'$here'/node_modules/playwright-core/package.json").version)}catch(e){}')
if [ "$have" != "$pinned" ]; then
  echo "installing playwright-core $pinned (npm ci) ..."
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || skip "npm ci in $here failed (playwright-core $pinned)"
fi

# Debian's /usr/bin/chromium is a wrapper script; drive the binary itself when it is there.
browser=$(command -v chromium)
[ -x /usr/lib/chromium/chromium ] && browser=/usr/lib/chromium/chromium
echo "browser: $("$browser" --version 2>/dev/null | head -n1); playwright-core $pinned"

if [ -z "${SKIP_BOOK_BUILD:-}" ]; then
  cargo run --release --quiet -- book --no-bench
fi
node "$here/check-book.js" --book book/build --cookbook target/release/cookbook \
  --artifacts "$artifacts" --chromium "$browser"
