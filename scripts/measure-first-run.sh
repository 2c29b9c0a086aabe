#!/usr/bin/env bash
# The first `cargo xtask build --variant dev` of a fresh clone, as a person sees it in a
# terminal (issue 33): run under `script` (a pseudo-terminal) with its timing file, then print the
# wall time and the longest gaps between two writes to the terminal (a line or a redraw), with
# what the screen showed before each gap.
#
#   scripts/measure-first-run.sh GIT_DIR WORK_DIR [N_GAPS]
#
# GIT_DIR: a repository of a workspace that adopted the tool (committed); WORK_DIR: where the
# fresh clone goes (removed first). Needs git, script (util-linux), python3.
set -euo pipefail
origin=${1:?usage: $0 GIT_DIR WORK_DIR [N_GAPS]} work=${2:?} gaps=${3:-3}
rm -rf "$work"
git clone -q "$origin" "$work"
log=$(mktemp) timing=$(mktemp)
trap 'rm -f "$log" "$timing"' EXIT
start=$(date +%s.%N)
(cd "$work" && script -q -e -T "$timing" -c "cargo xtask build --variant dev" "$log" >/dev/null)
end=$(date +%s.%N)
printf 'wall %.1f s\n' "$(echo "$end - $start" | bc)"
python3 - "$log" "$timing" "$gaps" <<'PY'
import re, sys
log = open(sys.argv[1], "rb").read()
# The typescript's first line is script's own header.
body = log[log.index(b"\n") + 1:]
chunks, at, clock = [], 0, 0.0
for line in open(sys.argv[2]):
    delay, size = line.split()[:2]
    clock += float(delay)
    chunks.append((float(delay), clock, body[at:at + int(size)]))
    at += int(size)
def last_words(end):
    text = b"".join(c[2] for c in chunks[:end]).decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    screen = [s for s in re.split(r"[\r\n]", text) if s.strip()]
    return screen[-1][:110] if screen else ""
ranked = sorted(range(len(chunks)), key=lambda i: -chunks[i][0])[: int(sys.argv[3])]
for i in ranked:
    delay, clock, _ = chunks[i]
    print(f"gap {delay:5.1f} s ending at {clock:6.1f} s, after: {last_words(i)}")
PY
