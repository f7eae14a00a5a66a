#!/usr/bin/env bash
# Coverage-guided fuzzing for a fixed budget (PLUGSOCK_FUZZ_SECONDS per target, default 30):
#  1. the fd-passing receive path, native/scm_rights.cc: the same source the addon links
#     (libFuzzer + ASan + UBSan, real socketpair; fuzz/fdpass_recv_fuzz.cc)
#  2. the go-plugin handshake parser (V8 block coverage loop, fuzz/handshake-fuzz.cjs)
# Needs clang with libFuzzer (Debian: clang-14 libclang-rt-14-dev) and a built dist/.
# Findings are saved under $PLUGSOCK_FUZZ_OUT (default: a temp dir, printed, removed when there
# is no finding). Exit 1 on any.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${PLUGSOCK_FUZZ_SECONDS:-30}
out=${PLUGSOCK_FUZZ_OUT:-$(mktemp -d /tmp/plugsock-fuzz.XXXXXX)}
mkdir -p "$out/fdpass-corpus" "$out/handshake-corpus"
cxx=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++ || true)}
status=0

echo "== fuzz: fd-passing receive path (${budget}s) -> $out"
if [ -z "$cxx" ]; then
  echo "no clang++ found (apt-get install clang-14 libclang-rt-14-dev)"; status=1
else
  if "$cxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
       -I native fuzz/fdpass_recv_fuzz.cc native/scm_rights.cc -o "$out/fdpass_recv_fuzz"; then
    ( cd "$out" && ASAN_OPTIONS=detect_leaks=1 ./fdpass_recv_fuzz -max_total_time="$budget" \
        -print_final_stats=1 -artifact_prefix="$out/" fdpass-corpus 2>"$out/fdpass.log" ) || status=1
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ +DONE|invariant|ERROR|SUMMARY' "$out/fdpass.log" | sed 's/^/  /'
    echo "  corpus: $(ls "$out/fdpass-corpus" | wc -l) inputs"
  else
    echo "  could not build the harness"; status=1
  fi
fi

echo "== fuzz: go-plugin handshake parser (${budget}s)"
node fuzz/handshake-fuzz.cjs --time="$budget" --corpus="$out/handshake-corpus" --crashes="$out/crashes" 2>&1 | grep -v '^#' | sed 's/^/  /'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if [ $status -eq 0 ]; then
  # Nothing found: nothing to keep, unless PLUGSOCK_FUZZ_OUT named the place (to grow a corpus).
  [ -n "${PLUGSOCK_FUZZ_OUT:-}" ] || rm -rf "$out"
  echo "fuzz: no finding"
else
  echo "fuzz: FINDINGS (see $out)"
fi
exit $status
