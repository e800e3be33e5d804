#!/usr/bin/env bash
# Real programs with gort's allocator as their malloc: python3, git and
# cmake run under LD_PRELOAD=libgortmalloc.so. Each must do real work and
# exit 0. python3 also proves the library served its mallocs: a 100-byte
# block has gort's class size (112) as its usable size, where glibc's would
# be 104. A missing program is reported and skipped; if all are missing the
# test fails (it would prove nothing).
set -uo pipefail

lib="$(pwd)/mem/libgortmalloc.so"
[[ -f "$lib" ]] || { echo "missing $lib"; exit 1; }
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
ran=0
fail=0

check() {  # name, command...
  local name="$1"; shift
  if ! command -v "$1" >/dev/null; then
    echo "SKIP $name: $1 is not installed"
    return
  fi
  local out rc
  out=$(LD_PRELOAD="$lib" "$@" 2>&1)
  rc=$?
  ran=$((ran + 1))
  if ((rc != 0)); then
    echo "FAIL $name: exit $rc"; echo "$out" | tail -20
    fail=1
    return
  fi
  echo "ok   $name"
  printf '%s\n' "$out" >"$tmp/$name.out"
}

# python3: allocation-heavy work, and the usable size of a malloc'd block.
check python3 python3 -c '
import ctypes, json, collections
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
libc.free.argtypes = [ctypes.c_void_p]
p = libc.malloc(100)
print("usable", libc.malloc_usable_size(p))
libc.free(p)
d = {str(i): [i] * (i % 50) for i in range(200000)}
s = json.dumps(d)
assert json.loads(s) == d
c = collections.Counter(x % 97 for x in range(10**6))
print("sum", sum(c.values()))
'
if [[ -f "$tmp/python3.out" ]]; then
  grep -qx "usable 112" "$tmp/python3.out" || {
    echo "FAIL python3: malloc was not gort's:"; cat "$tmp/python3.out"; fail=1; }
  grep -qx "sum 1000000" "$tmp/python3.out" || { echo "FAIL python3: wrong sum"; fail=1; }
fi

# git: a repository with commits, a log and a gc.
if command -v git >/dev/null; then
  repo="$tmp/repo"
  rm -rf "$repo"
  check git-init git init -q "$repo"
  for i in 1 2 3 4 5; do
    seq 1 $((i * 1000)) >"$repo/f$i"
    check "git-commit-$i" git -C "$repo" -c user.name=t -c user.email=t@t \
      commit -q --allow-empty -m "c$i"
    check "git-add-$i" git -C "$repo" add "f$i"
  done
  check git-commit git -C "$repo" -c user.name=t -c user.email=t@t commit -q -m files
  check git-log git -C "$repo" log --stat
  check git-gc git -C "$repo" gc -q
  if [[ -f "$tmp/git-log.out" ]]; then
    grep -q "f5" "$tmp/git-log.out" || { echo "FAIL git: log lacks f5"; fail=1; }
  fi
else
  echo "SKIP git: git is not installed"
fi

# cmake: configure nothing but its own script mode, with string and list work.
cat >"$tmp/t.cmake" <<'CM'
set(acc "")
foreach(i RANGE 1 20000)
  list(APPEND acc "item${i}")
endforeach()
list(LENGTH acc n)
string(SHA256 h "${acc}")
message("n=${n}")
CM
check cmake cmake -P "$tmp/t.cmake"
if [[ -f "$tmp/cmake.out" ]]; then
  grep -qx "n=20000" "$tmp/cmake.out" || { echo "FAIL cmake: wrong output"; fail=1; }
fi

if ((ran == 0)); then
  echo "FAIL: none of python3, git, cmake is installed; nothing was tested"
  exit 1
fi
exit $fail
