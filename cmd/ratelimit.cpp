#include <CLI/CLI.hpp>

#include "command.hpp"
#include "core/error.hpp"

namespace zuperior::cmd {

runner setup_ratelimit(CLI::App& sub) {
  sub.allow_extras();
  return []() -> int { throw core::command_error("'ratelimit' is not built yet in this version"); };
}

}  // namespace zuperior::cmd
