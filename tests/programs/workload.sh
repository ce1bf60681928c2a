#!/usr/bin/env bash
# One real program's workload: tests/programs/workload.sh PROGRAM OUTDIR [ci|full]
#
# PROGRAM is python, sqlite, git or redis. The workload writes what must be
# the same under every allocator into OUTDIR (raw; run.sh normalizes and
# compares it with glibc's) and exits non-zero if the program failed.
# It runs whatever allocator its environment preloads: run.sh and the book's
# `cookbook compare` table start it as `cookbook run --alloc A -- bash
# tests/programs/workload.sh ...`, so bash and every tool it starts run on
# that allocator too.
#
# Sizes: ci (run.sh's default), full (run.sh --full), bench (the book's
# `cookbook compare` table: the ci workloads, except Python's CPU-bound test
# files only, in one process, so time measures the allocator rather than
# sleeps, and SQLite on 200,000 rows, so start-up is noise).
#
# Programs and pinned packages (Debian 12): python3 with CPython's `test`
# package (the image's own, else libpython3.11-testsuite), sqlite3 3.40.1,
# git, redis-server/redis-tools 7.0.15. See tests/programs/run.sh.
set -euo pipefail
prog=${1:?usage: workload.sh python|sqlite|git|redis OUTDIR [ci|full]}
out=${2:?usage: workload.sh PROGRAM OUTDIR [ci|full]}
size=${3:-ci}
case "$size" in ci|full|bench) ;; *) echo "workload.sh: size $size is not ci, full or bench" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The CPython regression tests every run includes (the issue's list), and
# the larger set of --full.
PY_TESTS_CI="test_dict test_list test_set test_unicode test_json test_re test_threading test_subprocess"
PY_TESTS_FULL="$PY_TESTS_CI test_collections test_itertools test_functools test_string test_bytes
  test_array test_struct test_pickle test_zlib test_hashlib test_decimal test_fractions test_heapq
  test_bisect test_deque test_weakref test_gc test_tuple test_long test_float test_math test_csv
  test_xml_etree test_email test_sqlite3 test_sort test_ordered_dict test_userdict test_copy test_enum
  test_dataclasses test_statistics test_textwrap test_difflib test_queue test_sched test_thread
  test_threading_local test_base64 test_codecs test_io test_mmap"

python_workload() {
  local py=${PYTHON:-python3} tests=$PY_TESTS_CI jobs=-j4
  [ "$size" = full ] && tests=$PY_TESTS_FULL
  [ "$size" = bench ] && tests="test_dict test_list test_set test_unicode test_json test_re" && jobs=""
  # PYTHONMALLOC=malloc: every object through malloc, not only those over
  # 512 bytes (pymalloc's arenas would hide most requests from the allocator).
  # test_import_from_another_thread fails under glibc too on this image.
  # shellcheck disable=SC2086
  PYTHONMALLOC=malloc "$py" -m test $jobs --junit-xml "$out/junit.xml" \
    -i test_import_from_another_thread $tests > "$out/python.log" 2>&1
}

sqlite_workload() {
  local n=20000
  [ "$size" = full ] && n=400000
  [ "$size" = bench ] && n=200000 # long enough that process start-up is noise
  local db="$out/work.db"
  rm -f "$db"
  {
    echo "PRAGMA journal_mode=WAL;"
    echo "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);"
    echo "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT, qty INTEGER, price REAL, note TEXT);"
    echo "BEGIN;"
    # Literal INSERTs: the parser and the statement cache allocate per row.
    awk -v n=$((n / 10)) 'BEGIN { for (i = 1; i <= n; i++)
      printf "INSERT INTO customers VALUES(%d, %cname-%d-%s%c, %ccity-%d%c, %d.%02d);\n",
        i, 39, i, substr("abcdefghijklmnopqrstuvwxyz", 1, i % 26), 39, 39, i % 37, 39, (i * 7) % 1000, i % 100 }'
    echo "COMMIT;"
    echo "BEGIN;"
    echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
      INSERT INTO orders SELECT x, (x * 7919) % $((n / 10)) + 1, 'item-' || (x % 997), x % 13 + 1,
        (x % 1000) / 10.0, printf('%.*c', x % 300, 'n') || x FROM c;"
    echo "COMMIT;"
    echo "CREATE INDEX orders_customer ON orders(customer);"
    echo "CREATE INDEX orders_item ON orders(item, qty);"
    echo "CREATE INDEX customers_city ON customers(city);"
    echo ".print -- join"
    echo "SELECT c.city, count(*), round(sum(o.qty * o.price), 2) FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.city ORDER BY c.city;"
    echo ".print -- index range"
    echo "SELECT item, sum(qty) FROM orders WHERE item BETWEEN 'item-90' AND 'item-95' GROUP BY item ORDER BY 2 DESC, 1 LIMIT 10;"
    echo ".print -- window"
    echo "SELECT customer, id, qty, rank() OVER (PARTITION BY customer ORDER BY qty DESC, id) FROM orders WHERE customer <= 3 ORDER BY customer, 4, id LIMIT 30;"
    echo ".print -- update, delete, vacuum"
    echo "UPDATE orders SET note = upper(substr(note, 1, 40)) WHERE id % 3 = 0;"
    echo "DELETE FROM orders WHERE id % 5 = 0;"
    echo "DELETE FROM customers WHERE id % 11 = 0;"
    echo "PRAGMA journal_mode=DELETE;"
    echo "VACUUM;"
    echo "PRAGMA integrity_check;"
    echo "SELECT count(*), sum(length(note)), total(price), max(note) FROM orders;"
    echo "SELECT group_concat(name, ',') FROM (SELECT name FROM customers ORDER BY score DESC, id LIMIT 20);"
    echo "SELECT json_group_array(json_object('id', id, 'item', item, 'qty', qty)) FROM orders WHERE id < 40;"
    echo "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer WHERE c.id IS NULL;"
    echo "SELECT note FROM orders ORDER BY note DESC, id LIMIT 3;"
  } > "$out/workload.sql"
  sqlite3 -batch -bail "$db" < "$out/workload.sql" > "$out/sqlite.out" 2> "$out/sqlite.log"
}

git_workload() {
  local n=3000
  [ "$size" = full ] && n=30000
  local repo="$out/repo"
  rm -rf "$repo"
  # A fixed identity, dates and no user config: the commit hashes are then
  # the same on every run and every allocator.
  export HOME="$out" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME=cookbook GIT_AUTHOR_EMAIL=cookbook@example.invalid
  export GIT_COMMITTER_NAME=cookbook GIT_COMMITTER_EMAIL=cookbook@example.invalid
  export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
  git init -q -b main "$repo"
  cd "$repo"
  # No automatic gc in the background: the explicit `git gc` below is the one.
  git config gc.auto 0
  git config gc.autoDetach false
  gen() { # gen FIRST LAST SALT [SKIP]: files d<i%40>/f<i>.txt, none in d<SKIP>
    awk -v a="$1" -v b="$2" -v s="$3" -v skip="${4:--1}" 'BEGIN { for (i = a; i <= b; i++) {
      if (i % 40 == skip) continue
      d = "d" (i % 40); f = d "/f" i ".txt"; if (!(d in made)) { system("mkdir -p " d); made[d] = 1 }
      for (l = 0; l < 5 + i % 40; l++) printf "line %d of file %d salt %s %s\n", l, i, s, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, (i * l) % 48) > f
      close(f) } }'
  }
  gen 1 "$n" base
  git add -A
  git commit -q -m "base: $n files"
  git checkout -q -b feature
  gen 1 $((n / 10)) feature
  gen $((n + 1)) $((n + n / 20)) new
  git add -A
  git rm -q -r -f d7
  git commit -q -m "feature: edits, new files, d7 removed"
  git checkout -q main
  gen $((n / 2)) $((n / 2 + n / 10)) main 7
  git add -A
  git commit -q -m "main: edits"
  git merge -q --no-edit feature
  git tag -a v1 -m "tag v1"
  git gc -q
  git fsck --full --strict > "$out/fsck.out" 2>&1
  {
    echo "HEAD $(git rev-parse HEAD) tree $(git rev-parse 'HEAD^{tree}')"
    git log --format='%H %P %s'
    echo "files $(git ls-files | wc -l)"
    git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
    git diff --stat HEAD~1 HEAD | tail -1
    git grep -c 'salt feature' | wc -l
    git cat-file --batch-all-objects --batch-check | sort | sha256sum
  } > "$out/git.out" 2> "$out/git.log"
}

redis_workload() {
  local n=20000
  [ "$size" = full ] && n=200000
  local port lo=32768
  # Below the kernel's ephemeral range: a client socket of an earlier run
  # (redis-benchmark's, in TIME_WAIT) can hold any port inside it, and the
  # server's bind would then fail with "Address already in use".
  read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || true
  [ "$lo" -gt 12000 ] 2> /dev/null || lo=32768
  for _ in $(seq 50); do
    port=$((10000 + RANDOM % (lo - 10000)))
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null || break
  done
  # Loopback only, no persistence, stopped at the end (also on failure).
  # Lazy freeing: big values are freed by redis's background thread, so
  # objects one thread allocated are freed by another. (No io-threads: they
  # spin, and on two shared cores that measures the scheduler.)
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save "" --appendonly no \
    --dir "$out" --logfile "$out/redis-server.log" --daemonize no \
    --lazyfree-lazy-server-del yes --lazyfree-lazy-user-del yes --lazyfree-lazy-user-flush yes &
  redis_pid=$!
  trap 'kill "$redis_pid" 2> /dev/null || true' EXIT
  local up=0
  for _ in $(seq 300); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2> /dev/null)" = PONG ]; then up=1; break; fi
    kill -0 "$redis_pid" 2> /dev/null || break
    sleep 0.1
  done
  if [ "$up" != 1 ]; then
    echo "redis-server did not answer on 127.0.0.1:$port; its log:" >&2
    tail -20 "$out/redis-server.log" >&2 || true
    return 1
  fi
  redis-benchmark -h 127.0.0.1 -p "$port" -n "$n" -c 20 -q \
    -t set,get,incr,lpush,rpop,sadd,hset,spop,zadd,lrange_100,mset > "$out/benchmark.log" 2>&1
  local cli=(redis-cli -h 127.0.0.1 -p "$port")
  "${cli[@]}" info memory > "$out/info-memory.txt"
  {
    echo "tests $(tr '\r' '\n' < "$out/benchmark.log" | grep -c 'requests per second' || true)"
    echo "errors $(grep -ciE 'error|err ' "$out/benchmark.log" || true)"
    echo "dbsize $("${cli[@]}" dbsize)"
    for k in $("${cli[@]}" --scan | sort); do
      t=$("${cli[@]}" type "$k")
      case "$t" in
        string) v=$("${cli[@]}" strlen "$k") ;;
        list) v=$("${cli[@]}" llen "$k") ;;
        set) v=$("${cli[@]}" scard "$k") ;;
        zset) v=$("${cli[@]}" zcard "$k") ;;
        hash) v=$("${cli[@]}" hlen "$k") ;;
        *) v=? ;;
      esac
      echo "key $k $t $v"
    done
    grep -qE '^used_memory:[0-9]+' "$out/info-memory.txt" && echo "info memory: used_memory present"
  } > "$out/redis.out"
  # Everything freed by the background thread, then the server stopped.
  echo "flushall $("${cli[@]}" flushall async) dbsize after $("${cli[@]}" dbsize)" >> "$out/redis.out"
  "${cli[@]}" shutdown nosave > /dev/null 2>&1 || true
  local rc=0
  wait "$redis_pid" || rc=$?
  trap - EXIT
  echo "server exit $rc" >> "$out/redis.out"
  [ "$rc" = 0 ]
}

case "$prog" in
  python) python_workload ;;
  sqlite) sqlite_workload ;;
  git) git_workload ;;
  redis) redis_workload ;;
  *) echo "workload.sh: unknown program $prog (python, sqlite, git, redis)" >&2; exit 2 ;;
esac
