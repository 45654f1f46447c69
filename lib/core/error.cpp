#include "core/error.hpp"

#include <boost/system/system_error.hpp>

#include <string_view>

namespace zuperior::core {

std::string error_text(const std::exception& e) {
  std::string text = e.what();
  const auto* se = dynamic_cast<const boost::system::system_error*>(&e);
  if (!se) return text;
  // what() is "[prefix: ]" + code().what(), and code().what() is message() + " [category:value ...]".
  const boost::system::error_code ec = se->code();
  const std::string decorated = ec.what();
  if (text.size() >= decorated.size() && std::string_view(text).ends_with(decorated))
    text.replace(text.size() - decorated.size(), decorated.size(), ec.message());
  return text;
}

}  // namespace zuperior::core
