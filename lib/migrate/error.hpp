#pragma once
#include <string>

#include "core/error.hpp"

namespace zuperior::migrate {

/// A migration failure: one clear line (what()) plus indented details (file, statement, the
/// server's message and hint). Exit code 1 unless the tool could not run at all (2).
class error : public core::command_error {
 public:
  error(std::string message, std::string details = {}, int code = core::exit_failed)
      : core::command_error(std::move(message), code), details_(std::move(details)) {}
  /// Multi-line context printed under the one-line message ("" when there is none).
  const std::string& details() const noexcept { return details_; }

 private:
  std::string details_;
};

}  // namespace zuperior::migrate
