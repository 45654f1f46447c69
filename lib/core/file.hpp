#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace zuperior::core {

/// The cap for files an operator hands us (.env, YAML configuration, loadtest scenarios).
inline constexpr std::size_t max_config_file_bytes = std::size_t{16} << 20;

/// How long a pipe may stay silent before read_file gives up on it.
inline constexpr std::chrono::milliseconds pipe_wait{10000};

/// Reads a whole file or pipe of at most `max_bytes`, in pieces: a pipe (process substitution)
/// works, and a source that never ends (/dev/zero) is an error instead of all the memory there is.
/// A pipe or FIFO that sends nothing for `wait` (a FIFO no one writes to) is an error, not a hang;
/// so is a directory. Throws core::command_error ("cannot read PATH: ...") when it cannot, or when
/// it is larger.
std::string read_file(const std::string& path, std::size_t max_bytes, std::chrono::milliseconds wait = pipe_wait);

}  // namespace zuperior::core
