// Which file a bound AF_UNIX socket is bound to, from the kernel's socket table (NETLINK
// sock_diag, UNIX_DIAG_VFS), so the claim can open that file and check it is exactly ours.
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "claim.h"

namespace plugsock::claim {

int BoundFileOf(int sock, dev_t* dev, uint32_t* ino32) {
  struct stat st;
  if (Fstat(sock, &st) != 0) return errno;
  Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return errno;
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0U;
  msg.req.udiag_ino = static_cast<uint32_t>(st.st_ino);
  msg.req.udiag_show = UDIAG_SHOW_VFS;
  msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0U;  // INET_DIAG_NOCOOKIE: look up by inode
  if (::send(nl.get(), &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) return errno;
  alignas(nlmsghdr) char buf[512];
  ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
  if (n < 0) return errno;
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<size_t>(n))) return EPROTO;
  if (h->nlmsg_type == NLMSG_ERROR) {
    int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    return err == 0 ? EPROTO : err;
  }
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return EPROTO;
  auto* m = reinterpret_cast<unix_diag_msg*>(NLMSG_DATA(h));
  int left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
  for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < sizeof(unix_diag_vfs)) continue;
    auto* vfs = reinterpret_cast<unix_diag_vfs*>(RTA_DATA(a));
    // The kernel's own dev_t encoding (major << 20 | minor), not stat()'s.
    *dev = makedev(vfs->udiag_vfs_dev >> 20, vfs->udiag_vfs_dev & 0xfffff);
    *ino32 = vfs->udiag_vfs_ino;
    return 0;
  }
  return ENOENT;
}

}  // namespace plugsock::claim

#endif  // __linux__
