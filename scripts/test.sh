#!/usr/bin/env bash
# The test command from README.md: the whole suite, Docker tests included
# (they skip with a printed reason when no engine is reachable, unless
# CUTOVER_REQUIRE_DOCKER=1).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --locked --no-fail-fast "$@"
