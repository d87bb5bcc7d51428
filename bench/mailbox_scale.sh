#!/bin/sh
# mailbox_scale.sh - time the mailbox library on a big maildir folder:
# first open (index built from readdir + stat, no message reads), reopen
# (index load), sync with nothing new, listing UID/flags/sizes, sync after
# one delivery, one STORE. Usage: bench/mailbox_scale.sh [MESSAGES] [BUILD_DIR]
# (default 100000 messages, build tree = the directory above this script).
set -eu
n=${1:-100000}
build=${2:-$(cd "$(dirname "$0")/.." && pwd)}
bin="$build/tests/unit/unit_tests"
if [ ! -x "$bin" ]; then
    echo "mailbox_scale: $bin not built (make check builds it: make tests/unit/unit_tests)" >&2
    exit 1
fi
TERN_MAILBOX_SCALE=$n "$bin" "[.mailbox_scale]" -s 2>/dev/null | grep '^messages='
