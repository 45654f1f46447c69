#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace zuperior::cache {

/// A Redis reply, flattened.
struct reply {
  enum class type { nil, string, integer, array, status, error };
  type kind = type::nil;
  std::string text;  // string, status, error
  std::int64_t integer = 0;
  std::vector<reply> elements;
};

}  // namespace zuperior::cache
