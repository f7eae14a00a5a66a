// Reference for bench/fdpass.mjs: the floor cost of passing fds over a Unix stream socket.
// Two processes (fork) on a socketpair; the sender passes one fd + 1 byte per sendmsg, the
// receiver recvmsg()s each with MSG_CMSG_CLOEXEC and closes the fd it got. Blocking sockets:
// the tightest loop C can do. Prints "<fds>/s" on stdout; usage: fdpass [count]
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int receiver(int sock, long count) {
  union { char buf[CMSG_SPACE(sizeof(int) * 253)]; struct cmsghdr align; } control;
  char data[4096];
  long got = 0;
  while (got < count) {
    struct iovec iov = {data, sizeof(data)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) { perror("recvmsg"); return 1; }
    if (msg.msg_flags & MSG_CTRUNC) { fprintf(stderr, "MSG_CTRUNC\n"); return 1; }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (int i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        close(fd);
        got++;
      }
    }
  }
  char ack = 'A';
  return write(sock, &ack, 1) == 1 ? 0 : 1;
}

int main(int argc, char** argv) {
  long count = argc > 1 ? atol(argv[1]) : 200000;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) { perror("socketpair"); return 1; }
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    _exit(receiver(sv[1], count));
  }
  close(sv[1]);
  int passed = open("/dev/null", O_RDONLY | O_CLOEXEC);
  double t0 = now();
  for (long i = 0; i < count; i++) {
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof(control));
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passed, sizeof(int));
    if (sendmsg(sv[0], &msg, MSG_NOSIGNAL) != 1) { perror("sendmsg"); return 1; }
  }
  char ack;
  if (read(sv[0], &ack, 1) != 1) { perror("read ack"); return 1; }
  double secs = now() - t0;
  int status;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  printf("%.0f\n", count / secs);
  return 0;
}
