#!/bin/sh
# Measure the prototype with the project's own bench: a copy of the worktree's lib/, bench/ and
# tests/mpvm with wip/usmtp-core/*.py laid over lib/usmtp/, then bench/usmtp_heap.mjs there.
#   sh wip/usmtp-core/measure.sh [--json]
set -e
W=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/usmtp-proto-XXXX)
mkdir -p "$T/tests/mpvm"
cp -r "$W/lib" "$W/bench" "$T/"
cp "$W"/tests/mpvm/*.mjs "$W"/tests/mpvm/package.json "$T/tests/mpvm/"
ln -s "$(readlink -f "$W/tests/mpvm/node_modules")" "$T/tests/mpvm/node_modules"
ln -s "$(readlink -f "$W/.venv")" "$T/.venv"
for f in "$W"/wip/usmtp-core/*.py; do cp "$f" "$T/lib/usmtp/"; done
mv "$T/lib/usmtp/umail.py" "$T/lib/umail.py"
cd "$T" && nice node bench/usmtp_heap.mjs "$@"
rm -rf "$T"
