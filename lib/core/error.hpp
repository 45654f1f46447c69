#pragma once
#include <stdexcept>
#include <string>

namespace zuperior::core {

/// Exit codes shared by every subcommand.
enum exit_code : int { exit_ok = 0, exit_failed = 1, exit_usage = 2 };

/// A control-plane error that ends the command with one line and an exit code.
class command_error : public std::runtime_error {
 public:
  command_error(const std::string& message, int code = exit_usage) : std::runtime_error(message), code_(code) {}
  /// The process exit code this error maps to.
  int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace zuperior::core
