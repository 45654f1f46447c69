#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::config {

/// One assignment from a .env file.
struct dotenv_entry {
  std::string key;
  std::string value;
  int line = 0;
};

/// A malformed line of a .env file.
struct dotenv_error {
  int line = 0;
  std::string message;
};

struct dotenv_result {
  std::vector<dotenv_entry> entries;  // in file order; later duplicates win when applied
  std::vector<dotenv_error> errors;
};

/// Parses dotenv syntax: comments, blank lines, `export`, single/double/back quotes,
/// escapes in double quotes, multi-line quoted values, inline comments after unquoted values.
dotenv_result parse_dotenv(std::string_view text);

}  // namespace zuperior::config
