#pragma once
// Per-virtual-user text templates: "{{email}}", "{{vu}}", "{{counter}}", "{{symbol}}", "{{run}}",
// "{{token}}" and any value a setup step extracted. Parsed once into segments; rendering appends
// to a caller-owned buffer so the request path does not allocate once the buffer has grown.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::loadtest {

/// What a template can refer to while rendering.
struct template_context {
  std::uint64_t vu = 0;       // virtual user number
  std::uint64_t counter = 0;  // per virtual user, increments per request
  std::uint64_t seq = 0;      // global request number
  std::string_view run;       // run id (distinguishes runs: fresh emails each time)
  std::string_view symbol;    // a symbol drawn for this request
  const std::vector<std::pair<std::string, std::string>>* vars = nullptr;  // extracted values (token …)
};

class text_template {
 public:
  text_template() = default;
  /// Parses `text`; throws std::invalid_argument on an unclosed "{{" or an unknown variable name
  /// not listed in `extra_vars`.
  explicit text_template(std::string_view text, const std::vector<std::string>& extra_vars = {});
  /// Appends the rendered text to `out`.
  void render(const template_context& ctx, std::string& out) const;
  /// True when there is nothing to substitute.
  bool is_constant() const noexcept { return parts_.size() <= 1 && (parts_.empty() || parts_[0].var.empty()); }
  /// The source text.
  const std::string& source() const noexcept { return source_; }

 private:
  struct part {
    std::string literal;
    std::string var;  // "" = literal
  };
  std::vector<part> parts_;
  std::string source_;
};

}  // namespace zuperior::loadtest
