#pragma once
// recv() that also returns the kernel's receive timestamp of what it read (the socket needs
// SO_TIMESTAMPNS): when the bytes were in the client's socket, before this program got to them.
// Shared by realtime_load.cpp and loopback_floor.cpp.
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <ctime>

// Like recv(fd, buf, len, flags); `arrived_us` is the newest read segment's receive time in epoch
// microseconds, 0 when the kernel gave none.
inline ssize_t recv_stamped(int fd, void* buf, std::size_t len, int flags, std::int64_t& arrived_us) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  const ssize_t r = ::recvmsg(fd, &m, flags);
  arrived_us = 0;
  for (cmsghdr* h = r > 0 ? CMSG_FIRSTHDR(&m) : nullptr; h; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec t;
    std::memcpy(&t, CMSG_DATA(h), sizeof t);
    arrived_us = static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_nsec / 1000;
  }
  return r;
}
