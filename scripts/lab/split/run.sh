#!/bin/bash
# B6 split in two processes, one of them under a wrapper, for load-independent counts per connection:
#   run.sh server|client <ours|net> <cycles> [wrapper...]
#   run.sh server ours 3000 valgrind --tool=callgrind --callgrind-out-file=/tmp/s3000.out
#   run.sh server ours 3000 strace -c -f -o /tmp/s3000.txt
# Take two run lengths (3,000 and 6,000) and divide the difference by 3,000: start-up and most JIT
# work drop out. WINPIPE_BENCH_DIST picks another built dist/ (inside the repo, for koffi).
here=$(cd "$(dirname "$0")" && pwd)
side=$1; impl=$2; n=$3; shift 3
rf=$(mktemp); rm -f "$rf"
if [ "$side" = server ]; then "$@" node "$here/server.mjs" "$impl" "$n" "$rf" & else node "$here/server.mjs" "$impl" "$n" "$rf" & fi
spid=$!
while [ ! -s "$rf" ]; do sleep 0.2; kill -0 $spid 2>/dev/null || { echo "server died" >&2; exit 1; }; done
if [ "$side" = client ]; then "$@" node "$here/client.mjs" "$impl" "$(cat "$rf")" "$n" 4; else node "$here/client.mjs" "$impl" "$(cat "$rf")" "$n" 4; fi
wait $spid
rm -f "$rf"
