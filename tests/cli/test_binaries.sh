#!/bin/sh
# Both binaries answer --help and --version, and refuse bad usage with 2.
. "$top_srcdir/tests/cli/lib.sh"

expect_status 0 "$VMIRSD" --version
expect_match "$out" '^vmirsd [0-9]+\.[0-9]+\.[0-9]+$'
expect_status 0 "$VMIRSCTL" --version
expect_match "$out" '^vmirsctl [0-9]+\.[0-9]+\.[0-9]+$'

expect_status 0 "$VMIRSD" --help
expect_match "$out" '^Usage: vmirsd \[-c FILE\]'
expect_match "$out" '--validate PATH'
expect_status 0 "$VMIRSCTL" --help
expect_match "$out" '^Usage: vmirsctl \[-c FILE\] COMMAND'
expect_match "$out" 'validate PATH\.\.\.'

expect_status 2 "$VMIRSD" --no-such-option
expect_status 2 "$VMIRSD" --validate
expect_match "$err" 'needs at least one file or directory'
expect_status 2 "$VMIRSCTL"
expect_status 2 "$VMIRSCTL" frobnicate
expect_match "$err" 'unknown command "frobnicate"'
expect_status 2 "$VMIRSCTL" validate

# A configuration error names the file, line and column.
conf=$(mktemp)
printf 'spool_dir = /tmp\nmax_paralel = 4\n' >"$conf"
expect_status 1 "$VMIRSD" -c "$conf"
expect_match "$err" "^$conf:2:1: error: unknown key \"max_paralel\""
rm -f "$conf"

finish
