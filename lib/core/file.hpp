#pragma once
#include <cstddef>
#include <string>

namespace zuperior::core {

/// The cap for files an operator hands us (.env, YAML configuration, loadtest scenarios).
inline constexpr std::size_t max_config_file_bytes = std::size_t{16} << 20;

/// Reads a whole file or pipe of at most `max_bytes`, in pieces: a pipe (process substitution)
/// works, and a source that never ends (/dev/zero) is an error instead of all the memory there is.
/// Throws core::command_error ("cannot read PATH: ...") when it cannot, or when it is larger.
std::string read_file(const std::string& path, std::size_t max_bytes);

}  // namespace zuperior::core
