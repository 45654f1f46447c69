#include "core/file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <system_error>

#include "core/error.hpp"

namespace zuperior::core {

std::string read_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw command_error(fmt::format("cannot read {}: {}", path, std::generic_category().message(errno)));
  std::string out;
  char chunk[64 << 10];
  while (in) {
    in.read(chunk, sizeof chunk);
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (out.size() > max_bytes)
      throw command_error(
          fmt::format("cannot read {}: larger than {} MiB, which no such file should be", path, max_bytes >> 20));
  }
  if (in.bad()) throw command_error(fmt::format("cannot read {}: {}", path, std::generic_category().message(errno)));
  return out;
}

}  // namespace zuperior::core
