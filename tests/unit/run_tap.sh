#!/bin/bash
# Runs one cmocka test program for Automake's TAP driver, so that a
# skipped test is reported as SKIP, not as a pass (cmocka's own exit
# status is 0 for a skip). cmocka writes a skip as "not ok N # SKIP",
# which TAP reads as a failure: it is rewritten as "ok N # SKIP". The
# program's exit status is kept.
set -o pipefail
CMOCKA_MESSAGE_OUTPUT=TAP "$@" | sed -u 's/^not ok \([0-9][0-9]*\) # SKIP/ok \1 # SKIP/'
