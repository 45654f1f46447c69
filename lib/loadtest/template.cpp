#include "loadtest/template.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/strings.hpp"

namespace zuperior::loadtest {
namespace {
constexpr std::string_view builtin_vars[] = {"vu", "counter", "seq", "run", "symbol", "email"};

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}
}  // namespace

text_template::text_template(std::string_view text, const std::vector<std::string>& extra_vars) : source_(text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      parts_.push_back({std::string(text.substr(pos)), ""});
      break;
    }
    if (open > pos) parts_.push_back({std::string(text.substr(pos, open - pos)), ""});
    auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) throw std::invalid_argument(fmt::format("unclosed \"{{{{\" in \"{}\"", text));
    auto name = std::string(core::trim(text.substr(open + 2, close - open - 2)));
    bool known = std::find(std::begin(builtin_vars), std::end(builtin_vars), name) != std::end(builtin_vars) ||
                 std::find(extra_vars.begin(), extra_vars.end(), name) != extra_vars.end();
    if (!known)
      throw std::invalid_argument(fmt::format(
          "unknown template variable \"{}\" (known: vu, counter, seq, run, symbol, email, and values extracted by "
          "setup steps)",
          name));
    parts_.push_back({"", name});
    pos = close + 2;
  }
}

void text_template::render(const template_context& c, std::string& out) const {
  for (const auto& p : parts_) {
    if (p.var.empty()) {
      out += p.literal;
    } else if (p.var == "vu") {
      append_number(out, c.vu);
    } else if (p.var == "counter") {
      append_number(out, c.counter);
    } else if (p.var == "seq") {
      append_number(out, c.seq);
    } else if (p.var == "run") {
      out += c.run;
    } else if (p.var == "symbol") {
      out += c.symbol;
    } else if (p.var == "email") {
      // Unique per run and virtual user, in a reserved domain so nothing is ever mailed.
      out += "lt-";
      out += c.run;
      out += '-';
      append_number(out, c.vu);
      out += "@loadtest.invalid";
    } else if (c.vars) {
      for (const auto& [k, v] : *c.vars)
        if (k == p.var) {
          out += v;
          break;
        }
    }
  }
}

}  // namespace zuperior::loadtest
