#include "core/file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "core/error.hpp"

namespace zuperior::core {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw command_error(fmt::format("cannot read {}: {}", path, why));
}

[[noreturn]] void fail_errno(const std::string& path) { fail(path, std::generic_category().message(errno)); }

struct fd_closer {
  int fd;
  ~fd_closer() { ::close(fd); }
};

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes, std::chrono::milliseconds wait) {
  // O_NONBLOCK: opening a FIFO no one writes to would block right here.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail_errno(path);
  fd_closer closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_errno(path);
  if (S_ISDIR(st.st_mode)) fail(path, "it is a directory");
  // A pipe is waited for with a deadline (poll before each read: a FIFO opened before its writer
  // reads as ended). Anything else (a file, /dev/null, a terminal) is read as it always was.
  const bool pipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
  if (!pipe && ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) fail_errno(path);
  std::string out;
  char chunk[64 << 10];
  while (true) {
    if (pipe) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) fail_errno(path);
      if (ready == 0)
        fail(path, fmt::format("nothing came through the pipe for {} s (a named pipe no one writes to?)",
                               wait.count() / 1000.0));
    }
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail_errno(path);
    }
    out.append(chunk, static_cast<std::size_t>(n));
    if (out.size() > max_bytes)
      fail(path, fmt::format("larger than {} MiB, which no such file should be", max_bytes >> 20));
  }
  return out;
}

}  // namespace zuperior::core
