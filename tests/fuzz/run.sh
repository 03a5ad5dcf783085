#!/bin/sh
# Build the libFuzzer targets (tests/fuzz/fuzz.mk, clang) and run each for
# FUZZ_SECONDS from its seeds, then every input in
# tests/fuzz/regressions/<target>/ once. Called by `make check-fuzz` and
# `make fuzz` with the paths and pkg-config flags in the environment:
#   run.sh [TARGET...]    (default: manifest conf dommeta oci)
# Exits 77 when clang cannot build a libFuzzer program.
set -eu

: "${top_srcdir:?}" "${top_builddir:?}"
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
MAKE=${MAKE:-make}
out=$top_builddir/tests/fuzz/build
fuzz=$top_srcdir/tests/fuzz
[ $# -gt 0 ] || set -- manifest conf dommeta oci

mkdir -p "$out"
probe=$out/probe
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }\n' >"$probe.c"
if ! "$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" >/dev/null 2>&1; then
    echo "SKIP: $FUZZ_CC cannot build libFuzzer programs (install clang and libclang-rt-dev)"
    exit 77
fi

$MAKE -s -f "$fuzz/fuzz.mk" srcdir="$top_srcdir" builddir="$top_builddir" CC="$FUZZ_CC" \
    DEP_CFLAGS="${DEP_CFLAGS:-}" DEP_LIBS="${DEP_LIBS:-}"

# Seeds, gathered afresh each run: the fixtures of each input's format.
seeds() {
    target=$1
    case $target in
    manifest)
        set -- "$top_srcdir"/tests/fixtures/manifests/good/*.yaml "$top_srcdir"/tests/fixtures/manifests/good/*.json \
            "$top_srcdir"/tests/fixtures/manifests/bad/*.yaml \
            "$top_srcdir"/tests/fixtures/manifests/bad/*/*.yaml "$top_srcdir"/conf/examples/*.yaml
        ;;
    conf) set -- "$top_srcdir"/conf/vmirsd.conf ;;
    *) set -- ;;
    esac
    for f in "$@" "$fuzz/seeds/$target"/*; do
        [ -f "$f" ] && printf '%s\n' "$f"
    done
    return 0
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0
for t in "$@"; do
    bin=$out/fuzz_$t
    rm -rf "$out/seeds/$t"
    mkdir -p "$out/seeds/$t" "$out/corpus/$t" "$out/artifacts/$t"
    seeds "$t" | while read -r f; do
        d=$(dirname "$f")
        cp "$f" "$out/seeds/$t/${d##*/}-${f##*/}"
    done
    dict=
    [ -f "$fuzz/$t.dict" ] && dict=-dict=$fuzz/$t.dict
    log=$out/$t.log
    # corpus/ (kept between runs, libFuzzer adds to it) first, then the seeds.
    # shellcheck disable=SC2086 # $dict is one word or none
    if "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" $dict "$out/corpus/$t" "$out/seeds/$t" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz $t: ${FUZZ_SECONDS} s, ${runs:-?} inputs, $cov, corpus $(ls "$out/corpus/$t" | wc -l)"
    else
        echo "FAIL: fuzz $t: a finding, input in $out/artifacts/$t/ (log: $log):"
        grep -A 30 -m 1 '^==[0-9]*==\|^SUMMARY\|ERROR: libFuzzer\|runtime error' "$log" | head -n 40
        fail=1
    fi
    reg=$fuzz/regressions/$t
    if [ -d "$reg" ] && [ -n "$(ls "$reg")" ]; then
        if "$bin" -rss_limit_mb=2048 -timeout=10 "$reg"/* >"$out/$t-regressions.log" 2>&1; then
            echo "fuzz $t: $(ls "$reg" | wc -l) regression inputs pass"
        else
            echo "FAIL: fuzz $t: a regression input fails (log: $out/$t-regressions.log):"
            grep -B 2 -A 30 -m 1 '^==[0-9]*==\|ERROR: libFuzzer\|runtime error' "$out/$t-regressions.log" | head -n 40
            fail=1
        fi
    fi
done
exit $fail
