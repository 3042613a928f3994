#!/usr/bin/env bash
# Regenerate the blocks of README.md and docs/PLAN.md that are made from the
# real thing (between `<!-- generated: … -->` and `<!-- /generated -->`):
#   cockpit-frame FILE WxH  the cockpit as drawn by its own renderer from a
#                           shipped recording, 3 s into its second step
#   plan-error FIXTURE      what `cutover up` says about a bad plan
# tests/doc_blocks.rs fails while a block is stale; this rewrites them all.
# After re-recording the demos (scripts/record-demos.sh), run this too.
set -euo pipefail
cd "$(dirname "$0")/.."
CUTOVER_UPDATE_DOCS=1 cargo test --locked --test suite doc_blocks::generated_doc_blocks_are_current -- --exact
git --no-pager diff --stat -- README.md docs/PLAN.md
