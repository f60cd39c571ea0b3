#!/bin/sh
# A copy of this worktree (no .git) at DEST with the prototype laid over lib/usmtp/, to run
# tests and probes against it:  sh wip/usmtp-core/overlay.sh /tmp/c23proto
set -e
W=$(cd "$(dirname "$0")/../.." && pwd)
D=$1
rm -rf "$D"
mkdir -p "$D"
(cd "$W" && tar cf - --exclude=.git --exclude=.venv --exclude=node_modules --exclude=__pycache__ .) | (cd "$D" && tar xf -)
ln -s "$(readlink -f "$W/.venv")" "$D/.venv"
ln -s "$(readlink -f "$W/tests/mpvm/node_modules")" "$D/tests/mpvm/node_modules"
cp "$W"/wip/usmtp-core/*.py "$D/lib/usmtp/"
mv "$D/lib/usmtp/umail.py" "$D/lib/umail.py"
cp "$W"/wip/usmtp-core/host/*.py "$D/host/outpost_gateway/"
