#pragma once
#include <exception>
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

/// An exception's text for a log line or an error message: what() itself, except that a
/// boost::system::system_error loses the "[category:value at file:line in function]" Boost 1.81
/// appends, which is for the developer's debugger, not the operator's log.
std::string error_text(const std::exception& e);

}  // namespace zuperior::core
