// The one way the bench's C programs fail: what failed and why (errno), on stderr, exit 1.
// Each program names itself with BENCH_PROG before including this.
#pragma once
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char* what) {
  fprintf(stderr, "%s: %s: %s\n", BENCH_PROG, what, strerror(errno));
  exit(1);
}
