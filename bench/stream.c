// C reference for the stream benchmark: the same transfer as bench/lib/worker.mjs's stream
// pair (a writer sends BYTES in CHUNK-byte writes of one reused buffer, a reader reads them into
// one reused CHUNK-byte buffer), over a Unix stream socket at PATH, writer and reader in two
// processes. Prints one JSON line: reader throughput and the reader's minor page faults.
// An optional SNDBUF sets the writer's SO_SNDBUF (what plugsock's sendBufferSize option does).
// With "serve" after it, only the writer runs: it prints "ready" once listening, serves one
// connection (after its "go" byte) and exits, so any reader can be timed behind a C writer.
//
//   cc -O2 -o stream bench/stream.c && ./stream /tmp/x.sock 1073741824 65536 [SNDBUF [serve]]
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "stream.c"
#include "die.h"

static long minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// Accepts one connection on lfd, waits for its "go" byte, writes total bytes, closes it.
static void serve_one(int lfd, int sndbuf, const char* buf, size_t chunk, long long total) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) die("accept");
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0) die("setsockopt");
  char go;
  if (read(fd, &go, 1) != 1) die("read go");
  for (long long left = total; left > 0;) {
    ssize_t n = write(fd, buf, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write");
    left -= n;
  }
  close(fd);
}

int main(int argc, char** argv) {
  const int serve_only = argc == 6 && strcmp(argv[5], "serve") == 0;
  if (argc < 4 || argc > 6 || (argc == 6 && !serve_only)) {
    fprintf(stderr, "usage: stream PATH BYTES CHUNK [SNDBUF [serve]]\n");
    return 2;
  }
  const int sndbuf = argc >= 5 ? atoi(argv[4]) : 0;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    die("path");
  }
  strcpy(addr.sun_path, argv[1]);
  const long long total = atoll(argv[2]);
  const size_t chunk = (size_t)atol(argv[3]);
  char* buf = malloc(chunk);
  if (!buf) die("malloc");
  memset(buf, 'a', chunk);

  unlink(argv[1]);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  if (listen(lfd, 8) != 0) die("listen");
  if (serve_only) {
    printf("ready\n");
    fflush(stdout);
    serve_one(lfd, sndbuf, buf, chunk, total);
    close(lfd);
    unlink(argv[1]);
    return 0;
  }

  pid_t writer = fork();
  if (writer < 0) die("fork");
  if (writer == 0) {
    serve_one(lfd, sndbuf, buf, chunk, total);
    _exit(0);
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
  long f0 = minflt();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (write(fd, "g", 1) != 1) die("write go");
  long long got = 0;
  while (got < total) {
    ssize_t n = read(fd, buf, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read");
    if (n == 0) break;
    got += n;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long faults = minflt() - f0;
  close(fd);
  int status;
  waitpid(writer, &status, 0);
  close(lfd);
  unlink(argv[1]);
  if (got < total) {
    fprintf(stderr, "stream.c: stream ended after %lld of %lld bytes\n", got, total);
    return 1;
  }
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"seconds\":%.6f,\"bytes\":%lld,\"minflt\":%ld}\n", secs, got, faults);
  return 0;
}
