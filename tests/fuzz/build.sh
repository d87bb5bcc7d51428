#!/bin/sh
# build.sh - build every libFuzzer target in tests/fuzz with clang, ASan and
# UBSan: lib/*.cpp is compiled once into build/ and linked with each target.
# Usage: tests/fuzz/build.sh SRCDIR OUTDIR
set -eu
src=$1
out=$2
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null 2>&1 || { echo "fuzz: $CXX not found (install the Debian package clang)"; exit 2; }
mkdir -p "$out/obj"
flags="-std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -D_GNU_SOURCE -pthread
 -I$src -I$(pwd) -DTERN_CONFIG_DIR=\"/etc/tern\" -DTERN_QUEUE_DIR=\"/var/spool/tern\" -DTERN_DAEMON_DIR=\"/usr/libexec/tern\"
 -DTERN_COMMAND_DIR=\"/usr/bin\" -DTERN_DATA_DIR=\"/usr/share/tern\" $(pkg-config --cflags libevent_openssl libunbound 2>/dev/null || true)"
libs="$(pkg-config --libs libevent_core libevent_extra libevent_openssl libevent_pthreads libssl libcrypto libunbound) -ldb-5.3 -lcrypt -pthread"
# compile and link FUZZ_JOBS at a time (default: every core)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
export CXX flags libs out
objs=""
for f in "$src"/lib/*.cpp; do
    o="$out/obj/$(basename "$f" .cpp).o"
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then
        printf '%s\n' "$f"
    fi
    objs="$objs $o"
done | xargs -r -P "$jobs" -n 1 sh -c '$CXX $flags -c "$1" -o "$out/obj/$(basename "$1" .cpp).o"' sh
objs=$(for f in "$src"/lib/*.cpp; do printf '%s ' "$out/obj/$(basename "$f" .cpp).o"; done)
export objs
ls "$src"/tests/fuzz/*_fuzz.cpp | xargs -P "$jobs" -n 1 sh -c \
    'name=$(basename "$1" .cpp); $CXX $flags -fsanitize=fuzzer "$1" $objs $libs -o "$out/$name" && echo "fuzz: built $out/$name"' sh
