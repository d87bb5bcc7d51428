#!/bin/sh
# run_all.sh - run each built fuzz target for a short while on its seed
# corpus (copied, so the source tree stays clean). Prints one line per target:
#   fuzz NAME ok | fuzz NAME FAILED
# Usage: tests/fuzz/run_all.sh SRCDIR OUTDIR SECONDS
src=$1
out=$2
secs=${3:-10}
rc=0
for bin in "$out"/*_fuzz; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" _fuzz)
    work=$(mktemp -d /tmp/tern-fuzz-XXXXXX)
    [ -d "$src/tests/fuzz/corpus/$name" ] && cp -r "$src/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
    if timeout $((secs + 60)) "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$out/$name-" "$work" >"$out/$name.log" 2>&1; then
        echo "fuzz $name ok"
    else
        echo "fuzz $name FAILED (see $out/$name.log)"
        tail -30 "$out/$name.log"
        rc=1
    fi
    rm -rf "$work"
done
exit $rc
