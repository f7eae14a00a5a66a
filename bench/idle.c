// Client of the scale benchmark (bench/transport.mjs `scale`): opens N connections to the Unix
// stream socket at PATH, one blocking connect() after the other, and holds them all open and
// idle. A blocking connect to a listener whose backlog is full waits in the kernel until the
// server accepts one, so the server, never this loop (a few us per connect), sets the pace:
// the server's accept rate is what gets measured, whatever the server is written with.
// Prints one JSON line once all N are connected, then waits until stdin closes (or a signal)
// and exits, which closes them.
//
//   cc -O2 -o idle bench/idle.c && ./idle /tmp/x.sock 10000
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "idle.c"
#include "die.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: idle PATH N\n");
    return 2;
  }
  const long n = atol(argv[2]);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    die("path");
  }
  strcpy(addr.sun_path, argv[1]);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
  if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < n + 16) {
    fprintf(stderr,
            "idle.c: RLIMIT_NOFILE is %ld, below the %ld fds that %ld connections need: "
            "start it with prlimit --nofile=N:N\n",
            (long)rl.rlim_cur, n + 16, n);
    return 1;
  }
  const double t0 = now();
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    while (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
      if (errno != EINTR) die("connect");
    }
  }
  const double secs = now() - t0;
  printf("{\"conns\":%ld,\"seconds\":%.6f}\n", n, secs);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}
