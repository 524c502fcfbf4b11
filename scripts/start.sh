#!/usr/bin/env bash
# Sets up (first run only) and starts the thumbnail server on its embedded default:
# memory cache, sources from ./media, thumbnails written to ./thumbnails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/restthumbs.js serve "$@"
