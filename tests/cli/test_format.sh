#!/bin/sh
# The code follows .clang-format (4-space K&R, return type on its own line).
. "$top_srcdir/tests/cli/lib.sh"
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
cd "$top_srcdir" || exit 1
for f in src/*.c src/*.h src/ctl/*.c src/ctl/*.h tests/unit/*.c tests/unit/*.h tests/fakes/*.c tests/fakes/*.h tests/fuzz/*.c; do
    clang-format --dry-run -Werror "$f" 2>/dev/null || fail "$f is not formatted: run clang-format -i $f"
done
finish
