#include "config/dotenv.hpp"

#include <cctype>

#include "core/strings.hpp"

namespace zuperior::config {
namespace {

bool valid_key(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k.front()))) return false;
  for (unsigned char c : k)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

dotenv_result parse_dotenv(std::string_view text) {
  dotenv_result out;
  size_t pos = 0;
  int line_no = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // UTF-8 BOM
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
    ++line_no;
    const int start_line = line_no;
    std::string_view body = core::trim(line);
    if (body.empty() || body.front() == '#') {
      pos = next;
      continue;
    }
    if (body.substr(0, 7) == "export " || body.substr(0, 7) == "export\t") body = core::trim(body.substr(7));
    auto eq = body.find('=');
    if (eq == std::string_view::npos) {
      out.errors.push_back({start_line, "expected KEY=VALUE, found no '='"});
      pos = next;
      continue;
    }
    std::string key(core::trim(body.substr(0, eq)));
    if (!valid_key(key)) {
      // Never the text itself, not even the start of the name: a line like "JWT_SECRET: c2VjcmV0=="
      // has its secret before the '=', and a secret wrapped onto a second line (openssl's base64)
      // is all "name". What is wrong, and where.
      std::size_t n = 0;
      while (n < key.size() &&
             (std::isalnum(static_cast<unsigned char>(key[n])) || key[n] == '_' || key[n] == '.' || key[n] == '-'))
        ++n;
      const std::size_t column = static_cast<std::size_t>(body.data() - line.data()) + n + 1;
      std::string what;
      if (key.empty())
        what = "an empty name before '='";
      else if (std::isdigit(static_cast<unsigned char>(key.front())))
        what = "a name cannot start with a digit";
      else if (std::isprint(static_cast<unsigned char>(key[n])))
        what = std::string("'") + key[n] + "' at column " + std::to_string(column);
      else
        what = "a non-printable character at column " + std::to_string(column);
      out.errors.push_back(
          {start_line, "invalid variable name: " + what + " (names are letters, digits, _ . -; KEY=VALUE expected)"});
      pos = next;
      continue;
    }
    // The value starts right after '='; it may continue on following lines when quoted.
    size_t value_start = pos + static_cast<size_t>(body.data() - line.data()) + eq + 1;
    while (value_start < text.size() && (text[value_start] == ' ' || text[value_start] == '\t')) ++value_start;
    char q = value_start < text.size() ? text[value_start] : '\0';
    std::string value;
    if (q == '"' || q == '\'' || q == '`') {
      size_t i = value_start + 1;
      bool closed = false;
      for (; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\n') ++line_no;
        if (c == q) {
          closed = true;
          break;
        }
        if (q == '"' && c == '\\' && i + 1 < text.size()) {
          char e = text[++i];
          switch (e) {
            case 'n':
              value += '\n';
              break;
            case 'r':
              value += '\r';
              break;
            case 't':
              value += '\t';
              break;
            case '\\':
              value += '\\';
              break;
            case '"':
              value += '"';
              break;
            case '$':
              value += '$';
              break;
            case '\n':
              ++line_no;
              break;  // line continuation
            default:
              value += '\\';
              value += e;
          }
          continue;
        }
        value += c;
      }
      if (!closed) {
        out.errors.push_back({start_line, std::string("unterminated ") + q + " quote"});
        break;  // the rest of the file is inside the quote: nothing more can be trusted
      }
      // After the closing quote only blanks and a comment may follow.
      size_t j = i + 1;
      size_t line_end = text.find('\n', j);
      std::string_view tail =
          core::trim(text.substr(j, line_end == std::string_view::npos ? std::string_view::npos : line_end - j));
      if (!tail.empty() && tail.front() != '#') {
        // Not the text (it is usually the rest of a secret, cut by a quote inside it).
        out.errors.push_back({line_no, "unexpected text after the closing quote of " + key + " (" +
                                           std::to_string(tail.size()) +
                                           " characters): quote the whole value, or put a # before a comment"});
      } else {
        out.entries.push_back({key, value, start_line});
      }
      next = line_end == std::string_view::npos ? text.size() : line_end + 1;
    } else {
      size_t line_end = eol == std::string_view::npos ? text.size() : eol;
      std::string_view raw = text.substr(value_start, line_end > value_start ? line_end - value_start : 0);
      // An unquoted value ends at " #" (a comment); '#' inside a word is kept (e.g. passwords).
      for (size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '#' && (k == 0 || raw[k - 1] == ' ' || raw[k - 1] == '\t')) {
          raw = raw.substr(0, k);
          break;
        }
      }
      out.entries.push_back({key, std::string(core::trim(raw)), start_line});
    }
    pos = next;
  }
  return out;
}

}  // namespace zuperior::config
