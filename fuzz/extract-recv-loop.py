#!/usr/bin/env python3
"""Copies the control-message parsing loop of FdChannel::ReadBatch out of native/fdpass.cc,
verbatim, so fuzz/fdpass_recv_fuzz.cc fuzzes the addon's own code without a refactor.

The loop is the `for (cmsghdr* c = CMSG_FIRSTHDR(&msg); ...)` statement up to its matching
closing brace. Fails loudly if it is not found exactly once (the harness then needs updating).
"""
import re
import sys

src_path, out_path = sys.argv[1], sys.argv[2]
src = open(src_path).read()
starts = [m.start() for m in re.finditer(r'for \(cmsghdr\* c = CMSG_FIRSTHDR\(&msg\);', src)]
if len(starts) != 1:
    sys.exit(f'{src_path}: expected exactly one CMSG_FIRSTHDR loop, found {len(starts)}; update fuzz/fdpass_recv_fuzz.cc')
i = src.index('{', starts[0])
depth = 0
for j in range(i, len(src)):
    if src[j] == '{':
        depth += 1
    elif src[j] == '}':
        depth -= 1
        if depth == 0:
            break
else:
    sys.exit('unbalanced braces after the CMSG_FIRSTHDR loop')
loop = src[starts[0]:j + 1]
line = src.count('\n', 0, starts[0]) + 1
with open(out_path, 'w') as f:
    f.write(f'// Extracted from {src_path}:{line} by fuzz/extract-recv-loop.py. Do not edit.\n')
    f.write(f'#line {line} "{src_path}"\n')
    f.write(loop + '\n')
print(f'extracted {loop.count(chr(10)) + 1} lines from {src_path}:{line}')
