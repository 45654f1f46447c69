#include "core/version.hpp"

namespace zuperior::core {
std::string_view version() { return ZUPERIOR_VERSION; }
}  // namespace zuperior::core
