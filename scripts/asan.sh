#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (Debian's clang + compiler-rt) in a copy of the tree,
# so build/Release that other tests use is untouched, and runs the addon's tests against it:
# test/addon.test.ts, test/fd-stream.test.ts, test/transport.test.ts (override with ASAN_TESTS).
# Node itself is not instrumented: the ASan runtime is LD_PRELOADed. LeakSanitizer runs at exit
# of every process (vitest workers and the children they spawn) with fuzz/lsan.supp.
# Fails when any ASan/LSan report has a frame in plugsock.node (or native/*.cc), or the tests fail.
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

mkdir -p "$work/reports"
export LD_PRELOAD="$rt"
export ASAN_OPTIONS="detect_leaks=1:log_path=$work/reports/asan:detect_odr_violation=0:alloc_dealloc_mismatch=0:handle_segv=0:allow_user_segv_handler=1:fast_unwind_on_malloc=0:malloc_context_size=40"
export LSAN_OPTIONS="suppressions=$src/fuzz/lsan.supp:print_suppressions=0"
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}
( cd "$work" && npx vitest run $tests ) 2>&1 | tee "$work/vitest.log" | grep -E '✓|×|Test Files|Tests |FAIL' | tail -40
test_status=${PIPESTATUS[0]}
unset LD_PRELOAD

# Classify the reports: one file per process that reported anything.
ours=0; theirs=0
for f in "$work"/reports/asan.*; do
  [ -e "$f" ] || continue
  # Split into reports; a report is ours when one of its frames is in plugsock.node / native/.
  n_ours=$(awk '/^(==[0-9]+==ERROR|Direct leak|Indirect leak)/{if(r!=""&&r~/plugsock\.node|native\/[a-z_]+\.(cc|h)/)c++; r=""} {r=r"\n"$0} END{if(r~/plugsock\.node|native\/[a-z_]+\.(cc|h)/)c++; print c+0}' "$f")
  n_all=$(grep -cE '^(==[0-9]+==ERROR|Direct leak|Indirect leak)' "$f")
  ours=$((ours + n_ours)); theirs=$((theirs + n_all - n_ours))
  if [ "$n_ours" -gt 0 ]; then echo "asan: reports in plugsock code: $f"; grep -nE 'ERROR|leak of|plugsock\.node|native/' "$f" | head -40; fi
done
echo "asan: $ours report(s) in plugsock code, $theirs report(s) only in Node/V8 (ignored); tests exit $test_status; logs in $work"
[ "$ours" -eq 0 ] && [ "$test_status" -eq 0 ]
