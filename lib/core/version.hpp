#pragma once
#include <string_view>

namespace zuperior::core {
/// The product version, e.g. "0.1.0".
std::string_view version();
}  // namespace zuperior::core
