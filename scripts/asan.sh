#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (Debian's clang + compiler-rt) in a copy of the tree,
# so build/Release that other tests use is untouched, and runs the addon's tests against it:
# test/addon.test.ts, test/fd-stream.test.ts, test/transport.test.ts (override with ASAN_TESTS).
# Node itself is not instrumented: the ASan runtime is LD_PRELOADed. LeakSanitizer runs at exit
# of every process (vitest workers and the children they spawn) with fuzz/lsan.supp.
# Fails when any ASan/LSan report has a frame in plugsock.node (or native/*.cc), or the tests fail;
# its work dir (a copy of the tree) is then kept for the logs, and removed after a passing run.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
cc=${ASAN_CC:-$(command -v clang-14 || command -v clang)}
cxx=${ASAN_CXX:-$(command -v clang++-14 || command -v clang++)}
rt=$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$rt" ] || { echo "asan: no ASan runtime ($rt): apt-get install clang-14 libclang-rt-14-dev"; exit 1; }
work=${ASAN_WORK:-$(mktemp -d /tmp/plugsock-asan.XXXXXX)}
tests=${ASAN_TESTS:-test/addon.test.ts test/fd-stream.test.ts test/transport.test.ts}
echo "asan: runtime $rt; work dir $work"

# A copy of the tree (node_modules linked, not copied).
tar -C "$src" --exclude=./node_modules --exclude=./build --exclude=./.git -cf - . | tar -C "$work" -xf -
ln -sfn "$src/node_modules" "$work/node_modules"
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
(
  cd "$work" &&
  CC="$cc" CXX="$cxx" \
  CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" \
  CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" \
  LDFLAGS="-fsanitize=address -shared-libasan" \
  npx node-gyp rebuild >"$work/build.log" 2>&1
) || { echo "asan: build failed"; tail -30 "$work/build.log"; exit 1; }
nm -D "$work/build/Release/plugsock.node" 2>/dev/null | grep -c __asan_init >/dev/null || { echo "asan: addon is not instrumented"; exit 1; }
echo "asan: instrumented addon built"

# Children the tests run as another user (nobody) must be able to write their reports too.
chmod 711 "$work"
mkdir -p "$work/reports"
chmod 1777 "$work/reports"
export LD_PRELOAD="$rt"
export ASAN_OPTIONS="detect_leaks=1:log_path=$work/reports/asan:detect_odr_violation=0:alloc_dealloc_mismatch=0:handle_segv=0:allow_user_segv_handler=1"
# Leaks never change a process's exit status here (Node/V8 leak at exit by design); every
# report is classified below, and any in plugsock code fails the run.
export LSAN_OPTIONS="suppressions=$src/fuzz/lsan.supp:print_suppressions=0:exitcode=0"
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}
( cd "$work" && npx vitest run $tests ) 2>&1 | tee "$work/vitest.log" | grep -E '✓|×|Test Files|Tests |FAIL' | tail -40
test_status=${PIPESTATUS[0]}
unset LD_PRELOAD

# Classify the reports (fuzz/asan-classify.py): ours = a memory error with a plugsock frame, or
# a leak whose allocation was called from plugsock code; the rest are Node/V8's own.
shopt -s nullglob
reports=("$work"/reports/asan.*)
if [ ${#reports[@]} -gt 0 ]; then
  python3 "$src/fuzz/asan-classify.py" "$work" "${reports[@]}" >"$work/classified.txt"
else
  echo "CLASSIFIED ours=0 theirs=0" >"$work/classified.txt"
fi
grep -v '^CLASSIFIED' "$work/classified.txt" | head -80
summary=$(grep '^CLASSIFIED' "$work/classified.txt")
ours=$(echo "$summary" | sed -E 's/.*ours=([0-9]+).*/\1/')
theirs=$(echo "$summary" | sed -E 's/.*theirs=([0-9]+).*/\1/')
if [ "$ours" -eq 0 ] && [ "$test_status" -eq 0 ]; then
  # A passing run keeps nothing (the copy of the tree is ~1 GB), unless ASAN_WORK named the place.
  if [ -z "${ASAN_WORK:-}" ]; then rm -rf "$work"; where="logs removed; set ASAN_WORK=<dir> to keep them"; else where="logs in $work"; fi
  echo "asan: ${#reports[@]} process(es) reported; 0 report(s) in plugsock code, $theirs only in Node/V8 (ignored); tests exit 0; $where"
  exit 0
fi
echo "asan: ${#reports[@]} process(es) reported; $ours report(s) in plugsock code, $theirs only in Node/V8 (ignored); tests exit $test_status; logs in $work"
exit 1
