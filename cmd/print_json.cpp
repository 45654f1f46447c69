#include <nlohmann/json.hpp>

#include <cstdio>

#include "command.hpp"

namespace zuperior::cmd {

void print_json(const nlohmann::json& j) {
  std::puts(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace zuperior::cmd
