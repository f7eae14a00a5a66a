#!/usr/bin/env python3
"""Classifies ASan/LSan reports from scripts/asan.sh: which point into plugsock code.

A memory error (==PID==ERROR: AddressSanitizer ...) is plugsock's when any frame of it is in
plugsock code. A leak is plugsock's when the code that called the allocator is plugsock's: the
first frame after the allocator (skipping ASan's runtime and inlined C++ library frames) is in
plugsock.node / native/*.cc / node-addon-api, not in the node binary. That keeps V8's own
allocations made on behalf of an addon call (napi_define_class, say) out of plugsock's count,
while a `new` or a std::vector growth inside the addon counts.
usage: asan-classify.py WORKDIR REPORT...
"""
import re
import sys

work = sys.argv[1]
ours_re = re.compile(r'plugsock\.node|/native/[a-z_]+\.(cc|h)\b|node-addon-api/napi|' + re.escape(work))
skip_re = re.compile(r'libclang_rt|/usr/include/c\+\+|/lib/gcc/|in operator new|in malloc|in calloc|in realloc|in __interceptor|in std::')
node_re = re.compile(r'\(/usr/bin/node\+|/usr/bin/node\b|\(/usr/lib/.*libnode|/home/iojs/build')

ours = []
theirs = 0
for path in sys.argv[2:]:
    text = open(path, errors='replace').read()
    blocks = re.split(r'\n(?=(?:==\d+==ERROR|Direct leak|Indirect leak))', text)
    for b in blocks:
        head = b.lstrip().splitlines()[0] if b.strip() else ''
        frames = [l for l in b.splitlines() if re.match(r'\s+#\d+ ', l)]
        if head.startswith('==') and 'LeakSanitizer' not in head and 'ERROR' in head:
            (ours.append((path, b)) if any(ours_re.search(f) for f in frames) else None)
            if not any(ours_re.search(f) for f in frames):
                theirs += 1
            continue
        if not (head.startswith('Direct leak') or head.startswith('Indirect leak')):
            continue
        verdict = None
        for f in frames:
            if ours_re.search(f):
                verdict = True
                break
            if node_re.search(f):
                verdict = False
                break
            if skip_re.search(f):
                continue
        if verdict:
            ours.append((path, b))
        else:
            theirs += 1

for path, b in ours[:10]:
    print(f'--- {path}\n{b.strip()[:3000]}\n')
print(f'CLASSIFIED ours={len(ours)} theirs={theirs}')
