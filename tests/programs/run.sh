#!/usr/bin/env bash
# Real programs nobody here wrote, run on GoAlloc (LD_PRELOAD), must give the
# same results as on glibc.
#
#   bash tests/programs/run.sh [--full] [--alloc goalloc[,mimalloc,jemalloc,tcmalloc]]
#                              [--only python,sqlite,git,redis] [--logs DIR]
#
# Each program's workload (tests/programs/workload.sh) runs once under glibc
# (the reference) and once under each allocator named by --alloc (default:
# goalloc), through `cookbook run --alloc A`; what the workload wrote is
# normalized and compared with glibc's:
#   python  CPython's own regression tests (python3 -m test, PYTHONMALLOC=malloc):
#           the same test cases run, the same ones fail (none do on this image)
#   sqlite  the sqlite3 shell on a generated workload (inserts, indexes, a join,
#           window functions, VACUUM, integrity_check): byte-identical output
#   git     a repository of generated files: commit, branch, merge, tag, gc, fsck:
#           identical commit and tree hashes, objects and fsck report
#   redis   redis-server on 127.0.0.1 under redis-benchmark (bounded request count):
#           no errors, the same keys and sizes, INFO memory read back, clean shutdown
# Default: the CI sizes (a few minutes on two cores). --full: bigger workloads
# and 50 CPython test files (a few minutes more).
#
# Missing programs are installed from Debian at pinned versions when this runs
# as root with apt-get; otherwise that program is skipped with a message.
# The last line is "programs: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

size=ci
allocs=goalloc
only="python sqlite git redis"
logs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --full) size=full ;;
    --alloc) allocs=${2:?--alloc needs a value}; shift ;;
    --alloc=*) allocs=${1#--alloc=} ;;
    --only) only=${2:?--only needs a value}; shift ;;
    --only=*) only=${1#--only=} ;;
    --logs) logs=${2:?--logs needs a value}; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
allocs=${allocs//,/ }
only=${only//,/ }
for a in $allocs; do
  case "$a" in goalloc|mimalloc|jemalloc|tcmalloc) ;; *)
    echo "run.sh: --alloc: '$a' is not one of goalloc, mimalloc, jemalloc, tcmalloc" >&2; exit 2 ;;
  esac
done
for p in $only; do
  case "$p" in python|sqlite|git|redis) ;; *)
    echo "run.sh: --only: '$p' is not one of python, sqlite, git, redis" >&2; exit 2 ;;
  esac
done
logs=${logs:-$root/target/programs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
# The workload script is copied first, so editing the tree during a run
# (bash reads a script as it goes) cannot change a run half-way.
cp tests/programs/workload.sh "$logs/workload.sh"

# Pinned Debian 12 packages (apt-cache policy on the project's machine).
declare -A DEB=(
  [sqlite]="sqlite3=3.40.1-2+deb12u2"
  [git]="git=1:2.39.5-0+deb12u3"
  [redis]="redis-server=5:7.0.15-1~deb12u10 redis-tools=5:7.0.15-1~deb12u10"
  [python]="libpython3.11-testsuite=3.11.2-6+deb12u9"
  [mimalloc]="libmimalloc2.0=2.0.9+ds-2"
  [jemalloc]="libjemalloc2=5.3.0-1"
  [tcmalloc]="libtcmalloc-minimal4=2.10-1"
)
apt_updated=0
install() { # install NAME: the pinned packages of NAME, if we can
  if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then return 1; fi
  echo "   installing ${DEB[$1]} (apt-get, pinned) ..."
  if [ $apt_updated = 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq > "$logs/apt.log" 2>&1 || true
    apt_updated=1
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq ${DEB[$1]} \
    >> "$logs/apt.log" 2>&1 || { echo "   apt-get install failed: see $logs/apt.log"; return 1; }
}

echo "== building cookbook and GoAlloc's preload library (cargo build --release)"
cargo build --release --quiet --bin cookbook
need_goalloc=0
for a in $allocs; do [ "$a" = goalloc ] && need_goalloc=1; done
if [ $need_goalloc = 1 ]; then
  cargo build --release --quiet --features preload --example goalloc_preload
fi
cookbook=$root/target/release/cookbook

# Which Python: the default python3 if it has CPython's test package, else
# Debian's python3.11 with libpython3.11-testsuite.
has_tests() { "$1" -c 'import test.libregrtest, test.test_dict' > /dev/null 2>&1; }
PYTHON=""
pick_python() {
  if command -v python3 > /dev/null && has_tests python3; then PYTHON=$(command -v python3); return 0; fi
  if [ -x /usr/bin/python3.11 ] && has_tests /usr/bin/python3.11; then PYTHON=/usr/bin/python3.11; return 0; fi
  return 1
}
available() { # available PROGRAM: installed, or installed now
  case "$1" in
    python) pick_python || { install python && pick_python; } ;;
    sqlite) command -v sqlite3 > /dev/null || { install sqlite && command -v sqlite3 > /dev/null; } ;;
    git) command -v git > /dev/null || { install git && command -v git > /dev/null; } ;;
    redis) { command -v redis-server && command -v redis-benchmark && command -v redis-cli; } > /dev/null ||
             { install redis && command -v redis-server > /dev/null && command -v redis-benchmark > /dev/null; } ;;
  esac
}

# Allocators: a peer whose library is missing is installed or skipped.
usable_allocs=""
skipped=0
for a in $allocs; do
  if "$cookbook" run --alloc "$a" -- true 2> "$logs/alloc-$a.err"; then
    usable_allocs="$usable_allocs $a"
  elif [ "$a" != goalloc ] && install "$a" && "$cookbook" run --alloc "$a" -- true 2> "$logs/alloc-$a.err"; then
    usable_allocs="$usable_allocs $a"
  else
    echo "SKIP every program under $a: $(head -1 "$logs/alloc-$a.err")"
    skipped=$((skipped + $(echo $only | wc -w)))
  fi
done

normalize() { # normalize PROGRAM DIR: what must equal glibc's, on stdout
  case "$1" in
    python) "$PYTHON" - "$2/junit.xml" << 'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("testcase")
n = 0
bad = []
for c in cases:
    n += 1
    for kind in ("failure", "error"):
        if c.find(kind) is not None:
            bad.append(f"{kind} {c.get('classname')}.{c.get('name')}")
print(f"test cases: {n}")
print("\n".join(sorted(bad)) or "no failures")
EOF
      ;;
    sqlite) cat "$2/sqlite.out" ;;
    git) cat "$2/git.out"; sort "$2/fsck.out" ;;
    redis) cat "$2/redis.out" ;;
  esac
}

programs=""
for p in $only; do
  if available "$p"; then
    programs="$programs $p"
  else
    echo "SKIP $p: not installed and could not be installed (Debian: apt-get install ${DEB[$p]})"
    skipped=$((skipped + $(echo $usable_allocs | wc -w)))
  fi
done
export PYTHON

n_programs=$(echo $programs | wc -w)
n_allocs=$(echo $usable_allocs | wc -w)
total=$((n_programs * (n_allocs + 1)))
echo "== $n_programs program(s) x (glibc +$usable_allocs), $size size: $total runs; logs in $logs"
passed=0
failed=0
step=0
started=$(date +%s)
for p in $programs; do
  ref_ok=1
  for a in system $usable_allocs; do
    step=$((step + 1))
    dir=$logs/$p/$a
    rm -rf "$dir"
    mkdir -p "$dir"
    t0=$(date +%s)
    printf '[%d/%d] %s under %s ... ' "$step" "$total" "$p" "$a"
    rc=0
    "$cookbook" run --alloc "$a" -- bash "$logs/workload.sh" "$p" "$dir" "$size" \
      > "$dir/workload.out" 2>&1 || rc=$?
    took=$(( $(date +%s) - t0 ))
    left=$(( (total - step) * ($(date +%s) - started) / step ))
    if [ $rc != 0 ]; then
      echo "FAILED (exit $rc, ${took}s; about ${left}s left) log: $dir"
      tail -5 "$dir/workload.out" | sed 's/^/    /'
      failed=$((failed + 1))
      [ "$a" = system ] && ref_ok=0
      continue
    fi
    normalize "$p" "$dir" > "$dir/result.txt" 2> "$dir/normalize.err" || true
    if [ "$a" = system ]; then
      echo "done, reference (${took}s; about ${left}s left)"
      continue
    fi
    if [ $ref_ok = 0 ]; then
      echo "ran (${took}s), but glibc's reference run failed: nothing to compare; log: $dir"
      failed=$((failed + 1))
    elif cmp -s "$logs/$p/system/result.txt" "$dir/result.txt" && [ -s "$dir/result.txt" ]; then
      echo "ok, same result as glibc (${took}s; about ${left}s left)"
      passed=$((passed + 1))
    else
      echo "FAILED: result differs from glibc's (${took}s) log: $dir"
      diff "$logs/$p/system/result.txt" "$dir/result.txt" | head -10 | sed 's/^/    /' || true
      failed=$((failed + 1))
    fi
  done
done
echo "== took $(( $(date +%s) - started ))s; logs in $logs"
echo "programs: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
