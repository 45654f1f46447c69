#include "migrate/sql.hpp"

#include <algorithm>
#include <cctype>

#include "core/strings.hpp"
#include "migrate/error.hpp"

namespace zuperior::migrate {

namespace {

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// The dollar-quote tag starting at sql[i] ("$$" or "$tag$"), or "" when none starts there.
std::string_view dollar_tag(std::string_view sql, std::size_t i) {
  if (sql[i] != '$') return {};
  std::size_t j = i + 1;
  while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
  if (j < sql.size() && sql[j] == '$') {
    // "$1" is a parameter, not a tag: tags cannot start with a digit.
    if (j > i + 1 && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) return {};
    return sql.substr(i, j - i + 1);
  }
  return {};
}

// Walks SQL text, calling on_code(index) for every character outside comments and literals'
// insides; returns nothing, throws on unterminated constructs. Shared by splitter and tokenizer.
struct scanner {
  std::string_view sql;
  std::size_t i = 0;
  int line = 1;

  void advance(std::size_t n = 1) {
    for (std::size_t k = 0; k < n && i < sql.size(); ++k, ++i)
      if (sql[i] == '\n') ++line;
  }
  bool at(std::string_view s) const { return sql.substr(i, s.size()) == s; }

  // Skips a comment at i; returns false when none starts here.
  bool skip_comment() {
    if (at("--")) {
      while (i < sql.size() && sql[i] != '\n') advance();
      return true;
    }
    if (at("/*")) {
      int start = line, depth = 0;
      do {
        if (at("/*")) {
          ++depth;
          advance(2);
        } else if (at("*/")) {
          --depth;
          advance(2);
        } else if (i >= sql.size()) {
          throw error("unterminated /* comment starting on line " + std::to_string(start));
        } else {
          advance();
        }
      } while (depth > 0);
      return true;
    }
    return false;
  }

  // Skips a quoted literal or identifier at i; returns false when none starts here.
  bool skip_quoted() {
    char c = sql[i];
    int start = line;
    if (c == '\'' || c == '"') {
      bool backslash =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      advance();
      while (true) {
        if (i >= sql.size())
          throw error(std::string("unterminated ") + (c == '"' ? "quoted identifier" : "string") +
                      " starting on line " + std::to_string(start));
        if (backslash && sql[i] == '\\') {
          advance(2);
          continue;
        }
        if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {
            advance(2);
            continue;
          }
          advance();
          return true;
        }
        advance();
      }
    }
    if (c == '$' && (i == 0 || !ident_char(sql[i - 1]))) {
      auto tag = dollar_tag(sql, i);
      if (tag.empty()) return false;
      advance(tag.size());
      auto end = sql.find(tag, i);
      if (end == std::string_view::npos)
        throw error("unterminated dollar-quoted string " + std::string(tag) + " starting on line " +
                    std::to_string(start));
      advance(end + tag.size() - i);
      return true;
    }
    return false;
  }
};

bool blank(char c) { return std::isspace(static_cast<unsigned char>(c)); }

}  // namespace

std::vector<statement> split_statements(std::string_view sql) {
  std::vector<statement> out;
  scanner s{sql};
  std::string comments;
  std::size_t start = std::string_view::npos;
  int start_line = 0;
  auto finish = [&](std::size_t end) {
    if (start == std::string_view::npos) return;
    auto text = core::trim(sql.substr(start, end - start));
    if (!text.empty()) out.push_back({std::string(text), comments, start_line});
    comments.clear();
    start = std::string_view::npos;
  };
  // A SQL-standard function body (PostgreSQL 14+: "BEGIN ATOMIC ... END") holds statements with
  // their own ';': they are one statement with it. Inside it, CASE ... END nests (psql counts the
  // same way). Split at every ';', such a CREATE FUNCTION failed on every run.
  int atomic_depth = 0;
  std::string_view prev_word;
  auto word_at = [&sql](std::size_t i) {
    std::size_t j = i;
    while (j < sql.size() && ident_char(sql[j])) ++j;
    return sql.substr(i, j - i);
  };
  while (s.i < sql.size()) {
    char c = sql[s.i];
    if (start == std::string_view::npos) {
      atomic_depth = 0;
      prev_word = {};
      if (blank(c)) {
        s.advance();
        continue;
      }
      std::size_t before = s.i;
      if (s.skip_comment()) {
        comments.append(sql.substr(before, s.i - before)).push_back('\n');
        continue;
      }
      if (c == ';') {  // an empty statement
        s.advance();
        continue;
      }
      start = s.i;
      start_line = s.line;
    }
    if (s.skip_comment() || s.skip_quoted()) continue;
    if (c == ';' && atomic_depth == 0) {
      finish(s.i);
      s.advance();
      continue;
    }
    if ((std::isalpha(static_cast<unsigned char>(c)) || c == '_') && (s.i == 0 || !ident_char(sql[s.i - 1]))) {
      auto w = word_at(s.i);
      if (core::iequals(w, "ATOMIC") && core::iequals(prev_word, "BEGIN"))
        ++atomic_depth;
      else if (atomic_depth > 0 && core::iequals(w, "CASE"))
        ++atomic_depth;
      else if (atomic_depth > 0 && core::iequals(w, "END"))
        --atomic_depth;
      prev_word = w;
      s.advance(w.size());
      continue;
    }
    s.advance();
  }
  finish(sql.size());
  return out;
}

std::vector<token> tokenize(std::string_view sql) {
  std::vector<token> out;
  scanner s{sql};
  while (s.i < sql.size()) {
    char c = sql[s.i];
    if (blank(c)) {
      s.advance();
      continue;
    }
    if (s.skip_comment()) continue;
    std::size_t b = s.i;
    if (c == '"') {
      s.skip_quoted();
      std::string id(sql.substr(b + 1, s.i - b - 2));
      for (std::size_t p = 0; (p = id.find("\"\"", p)) != std::string::npos; ++p) id.erase(p, 1);
      out.push_back({token::kind::quoted_ident, id});
      continue;
    }
    // A '$' right after a name or a number ("1$$") starts no literal there (the splitter agrees):
    // it is punctuation. Asked only whether a tag follows, this loop once stood still on it,
    // adding empty tokens until memory ran out.
    if ((c == '\'' || c == '$') && s.skip_quoted()) {
      out.push_back({token::kind::string, std::string(sql.substr(b, s.i - b))});
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (s.i < sql.size() && ident_char(sql[s.i])) s.advance();
      // E'…' / B'…' / X'…' prefixes belong to the literal that follows.
      if (s.i < sql.size() && sql[s.i] == '\'' && s.i - b == 1) {
        s.skip_quoted();
        out.push_back({token::kind::string, std::string(sql.substr(b, s.i - b))});
        continue;
      }
      std::string w(sql.substr(b, s.i - b));
      for (auto& ch : w) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      out.push_back({token::kind::word, w});
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (s.i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[s.i])) || sql[s.i] == '.')) s.advance();
      out.push_back({token::kind::number, std::string(sql.substr(b, s.i - b))});
      continue;
    }
    if (c == ':' && s.i + 1 < sql.size() && sql[s.i + 1] == ':') {
      s.advance(2);
      out.push_back({token::kind::punct, "::"});
      continue;
    }
    s.advance();
    out.push_back({token::kind::punct, std::string(1, c)});
  }
  return out;
}

std::vector<std::vector<token>> split_commas(const std::vector<token>& t, std::size_t from, std::size_t to) {
  std::vector<std::vector<token>> out(1);
  int depth = 0;
  for (std::size_t i = from; i < to; ++i) {
    if (t[i].type == token::kind::punct && t[i].text == "(") ++depth;
    if (t[i].type == token::kind::punct && t[i].text == ")") --depth;
    if (depth == 0 && t[i].type == token::kind::punct && t[i].text == ",") {
      out.emplace_back();
      continue;
    }
    out.back().push_back(t[i]);
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

std::vector<std::vector<token>> alter_table_actions(const std::vector<token>& t) {
  auto word = [&t](std::size_t i, std::string_view w) {
    return i < t.size() && t[i].type == token::kind::word && t[i].text == w;
  };
  std::size_t i = 2;  // ALTER TABLE
  while (word(i, "IF") || word(i, "EXISTS") || word(i, "ONLY")) ++i;
  fold_name(t, i);
  if (word(i, "RENAME")) return {std::vector<token>(t.begin() + static_cast<long>(i), t.end())};
  return split_commas(t, i, t.size());
}

std::string transaction_control(const std::vector<token>& t) {
  if (t.empty() || t[0].type != token::kind::word) return {};
  auto word = [&t](std::size_t i, std::string_view w) {
    return i < t.size() && t[i].type == token::kind::word && t[i].text == w;
  };
  const auto& first = t[0].text;
  if (first == "BEGIN" || first == "END" || first == "ABORT") return first;
  if (first == "START" && word(1, "TRANSACTION")) return "START TRANSACTION";
  if (first == "PREPARE" && word(1, "TRANSACTION")) return "PREPARE TRANSACTION";
  if (first == "COMMIT") return word(1, "PREPARED") ? "COMMIT PREPARED" : "COMMIT";
  if (first == "ROLLBACK") {
    if (word(1, "PREPARED")) return "ROLLBACK PREPARED";
    // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name stays in the transaction.
    std::size_t i = 1;
    if (word(i, "WORK") || word(i, "TRANSACTION")) ++i;
    return word(i, "TO") ? std::string() : std::string("ROLLBACK");
  }
  return {};
}

namespace {

using kind = statement_info::kind;

struct cursor {
  const std::vector<token>& t;
  std::size_t i = 0;

  bool word(std::string_view w) const { return i < t.size() && t[i].type == token::kind::word && t[i].text == w; }
  bool punct(std::string_view p) const { return i < t.size() && t[i].type == token::kind::punct && t[i].text == p; }
  // Consumes the words in order if all match.
  bool eat(std::initializer_list<std::string_view> words) {
    std::size_t j = i;
    for (auto w : words) {
      if (j >= t.size() || t[j].type != token::kind::word || t[j].text != w) return false;
      ++j;
    }
    i = j;
    return true;
  }
  bool done() const { return i >= t.size(); }
};

bool has_word(const std::vector<token>& t, std::string_view w) {
  for (const auto& k : t)
    if (k.type == token::kind::word && k.text == w) return true;
  return false;
}

// The parenthesised list starting at t[i] == "(", split at top-level commas, each item as text.
std::vector<std::string> paren_items(const std::vector<token>& t, std::size_t& i);

// Whether a statement's option list (paren_items) turns boolean option `name` on: "full", "full
// true", "full on", "full 1" do; "full false" / "off" / "0" do not.
bool option_on(const std::vector<std::string>& items, std::string_view name) {
  for (const auto& o : items) {
    if (!o.starts_with(name)) continue;
    auto value = std::string_view(o).substr(name.size());
    if (value.empty() || value == " true" || value == " on" || value == " 1") return true;
  }
  return false;
}

std::vector<std::string> paren_items(const std::vector<token>& t, std::size_t& i) {
  std::vector<std::string> items;
  if (i >= t.size() || t[i].text != "(") return items;
  int depth = 0;
  std::string cur;
  for (; i < t.size(); ++i) {
    const auto& k = t[i];
    if (k.type == token::kind::punct && k.text == "(") {
      if (depth++ == 0) continue;
    } else if (k.type == token::kind::punct && k.text == ")") {
      if (--depth == 0) {
        if (!cur.empty()) items.push_back(cur);
        ++i;
        break;
      }
    } else if (depth == 1 && k.type == token::kind::punct && k.text == ",") {
      items.push_back(cur);
      cur.clear();
      continue;
    }
    if (!cur.empty() && k.type != token::kind::punct && cur.back() != '(') cur += ' ';
    cur += k.type == token::kind::word ? core::to_lower(k.text) : k.text;
  }
  return items;
}

// The comma-separated table names of t[i, to) (TRUNCATE, LOCK, VACUUM): ONLY, '*', column lists
// and trailing options (CASCADE, RESTART IDENTITY, NOWAIT) skipped.
std::vector<std::string> table_list(const std::vector<token>& t, std::size_t i, std::size_t to = std::string::npos) {
  std::vector<std::string> out;
  for (auto& item : split_commas(t, i, std::min(to, t.size()))) {
    std::size_t k = 0;
    if (k < item.size() && item[k].type == token::kind::word && item[k].text == "ONLY") ++k;
    auto n = fold_name(item, k);
    if (!n.empty()) out.push_back(n);
  }
  return out;
}

// PostgreSQL's table lock modes, weakest first; "" (none) below all.
int lock_rank(std::string_view mode) {
  static constexpr std::string_view order[] = {
      "ACCESS SHARE", "ROW SHARE",           "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
      "SHARE",        "SHARE ROW EXCLUSIVE", "EXCLUSIVE",     "ACCESS EXCLUSIVE"};
  for (int r = 0; r < 8; ++r)
    if (mode == order[r]) return r + 1;
  return 0;
}

// The lock one ALTER TABLE action takes (PostgreSQL's AlterTableGetLockLevel, for the actions
// migrations use; anything else is taken as ACCESS EXCLUSIVE).
std::string alter_action_lock(const std::vector<token>& a) {
  cursor c{a};
  if (c.eat({"VALIDATE", "CONSTRAINT"}) || c.eat({"CLUSTER", "ON"}) || c.eat({"SET", "WITHOUT", "CLUSTER"}))
    return "SHARE UPDATE EXCLUSIVE";
  if (c.eat({"ALTER"})) {
    c.eat({"COLUMN"});
    if (!c.done()) ++c.i;  // the column
    // SET STATISTICS and per-attribute options (n_distinct) only affect planning.
    if (c.eat({"SET", "STATISTICS"}) || (c.eat({"SET"}) && c.punct("(")) || (c.eat({"RESET"}) && c.punct("(")))
      return "SHARE UPDATE EXCLUSIVE";
    return "ACCESS EXCLUSIVE";
  }
  if (c.eat({"ADD", "CONSTRAINT"}) || c.eat({"ADD"})) {
    if (!c.word("FOREIGN") && c.i < a.size() && a[c.i].type != token::kind::punct) ++c.i;  // the constraint's name
    if (c.eat({"FOREIGN", "KEY"})) return "SHARE ROW EXCLUSIVE";
    return "ACCESS EXCLUSIVE";
  }
  c.i = 0;
  if (c.eat({"ENABLE"}) || c.eat({"DISABLE"})) {
    if (!c.eat({"ALWAYS"})) c.eat({"REPLICA"});
    if (c.word("TRIGGER")) return "SHARE ROW EXCLUSIVE";
  }
  return "ACCESS EXCLUSIVE";
}
}  // namespace

std::string fold_name(const std::vector<token>& t, std::size_t& i, std::string* schema) {
  std::string name;
  while (i < t.size()) {
    if (schema && !name.empty()) *schema = name;
    if (t[i].type == token::kind::quoted_ident)
      name = t[i].text;
    else if (t[i].type == token::kind::word)
      name = core::to_lower(t[i].text);
    else
      break;
    ++i;
    if (i < t.size() && t[i].type == token::kind::punct && t[i].text == ".") {
      ++i;  // schema-qualified: keep the last part
      continue;
    }
    break;
  }
  return name;
}

statement_info analyze(std::string_view sql) {
  statement_info info;
  // A statement naming a list of tables (VACUUM, TRUNCATE, LOCK): it locks them all; the first
  // is the one it is reported by.
  auto lock_tables = [&info](std::string mode, std::vector<std::string> tables) {
    info.lock = {std::move(mode), std::move(tables)};
    if (!info.lock.tables.empty()) info.table = info.lock.tables.front();
  };
  std::vector<token> t;
  try {
    t = tokenize(sql);
  } catch (const std::exception&) {
    return info;
  }
  cursor c{t};
  auto name = [&] { return fold_name(t, c.i); };
  if (c.eat({"CREATE"})) {
    c.eat({"OR", "REPLACE"});
    bool unique = c.eat({"UNIQUE"});
    if (c.eat({"INDEX"})) {
      info.what = kind::create_index;
      info.verb = unique ? "CREATE UNIQUE INDEX" : "CREATE INDEX";
      info.unique = unique;
      info.concurrently = c.eat({"CONCURRENTLY"});
      info.if_not_exists = c.eat({"IF", "NOT", "EXISTS"});
      if (!c.word("ON")) info.index_name = name();
      c.eat({"ON"});
      c.eat({"ONLY"});
      info.table = fold_name(t, c.i, &info.table_schema);
      info.index_method = "btree";
      if (c.eat({"USING"})) info.index_method = core::to_lower(c.done() ? "" : t[c.i++].text);
      info.index_columns = paren_items(t, c.i);
      info.partial = has_word(t, "WHERE");
      info.lock = {info.concurrently ? "SHARE UPDATE EXCLUSIVE" : "SHARE", {info.table}};
      return info;
    }
    c.eat({"GLOBAL"}) || c.eat({"LOCAL"});
    c.eat({"TEMPORARY"}) || c.eat({"TEMP"}) || c.eat({"UNLOGGED"});
    if (c.eat({"TABLE"})) {
      info.what = kind::create_table;
      info.verb = "CREATE TABLE";
      info.if_not_exists = c.eat({"IF", "NOT", "EXISTS"});
      info.table = fold_name(t, c.i, &info.table_schema);
      for (std::size_t j = c.i; j + 1 < t.size(); ++j)
        if (t[j].type == token::kind::word && t[j].text == "REFERENCES") {
          std::size_t k = j + 1;
          info.referenced_tables.push_back(fold_name(t, k));
        }
      info.lock = {"ACCESS EXCLUSIVE", {info.table}};
      if (!info.referenced_tables.empty()) info.lock.mode = "ACCESS EXCLUSIVE (new table); SHARE ROW EXCLUSIVE";
      for (auto& r : info.referenced_tables) info.lock.tables.push_back(r);
      return info;
    }
    c.eat({"CONSTRAINT"});
    if (c.eat({"TRIGGER"})) {
      info.what = kind::create_trigger;
      info.verb = "CREATE TRIGGER";
      while (!c.done() && !c.word("ON")) ++c.i;  // name, BEFORE/AFTER, events (UPDATE OF col …)
      c.eat({"ON"});
      info.table = fold_name(t, c.i, &info.table_schema);
      info.lock = {"SHARE ROW EXCLUSIVE", {info.table}};
      return info;
    }
    info.verb = "CREATE";
    if (!c.done()) info.verb += " " + t[c.i].text;
    return info;
  }
  c.i = 0;
  if (c.eat({"DROP", "INDEX"})) {
    info.what = kind::drop_index;
    info.verb = "DROP INDEX";
    info.concurrently = c.eat({"CONCURRENTLY"});
    c.eat({"IF", "EXISTS"});
    info.index_name = name();
    info.lock = {info.concurrently ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE", {}};
    return info;
  }
  c.i = 0;
  if (c.eat({"DROP", "TABLE"})) {
    info.what = kind::drop_table;
    info.verb = "DROP TABLE";
    c.eat({"IF", "EXISTS"});
    info.table = fold_name(t, c.i, &info.table_schema);
    info.lock = {"ACCESS EXCLUSIVE", {info.table}};
    return info;
  }
  c.i = 0;
  if (c.eat({"ALTER", "TABLE"})) {
    info.what = kind::alter_table;
    info.verb = "ALTER TABLE";
    c.eat({"IF", "EXISTS"});
    c.eat({"ONLY"});
    info.table = fold_name(t, c.i, &info.table_schema);
    bool fk = false;
    for (std::size_t j = c.i; j < t.size(); ++j) {
      if (t[j].type != token::kind::word) continue;
      if (t[j].text == "REFERENCES") {
        std::size_t k = j + 1;
        info.referenced_tables.push_back(fold_name(t, k));
        fk = true;
      }
    }
    // The statement takes the strongest lock of its actions: SET STATISTICS was once shown as
    // ACCESS EXCLUSIVE (it looked at the first word only), which sends a DBA to a maintenance window
    // for nothing.
    std::string mode;
    for (const auto& a : alter_table_actions(t)) {
      auto m = alter_action_lock(a);
      if (lock_rank(m) > lock_rank(mode)) mode = m;
    }
    if (mode.empty()) mode = "ACCESS EXCLUSIVE";
    info.lock = {mode, {info.table}};
    for (auto& r : info.referenced_tables) info.lock.tables.push_back(r);
    if (fk && mode == "ACCESS EXCLUSIVE") info.lock.mode += "; SHARE ROW EXCLUSIVE on the referenced table";
    return info;
  }
  c.i = 0;
  if (c.eat({"REINDEX"})) {
    info.what = kind::reindex;
    info.verb = "REINDEX";
    // REINDEX [(option, …)] INDEX|TABLE|… [CONCURRENTLY] name; PostgreSQL 14+ also takes
    // CONCURRENTLY in the option list. Skipping only the "(" read "(VERBOSE) INDEX CONCURRENTLY x"
    // as a plain REINDEX: lock_timeout applied, ACCESS EXCLUSIVE shown, its leftovers not dropped.
    const bool option_concurrently = option_on(paren_items(t, c.i), "concurrently");
    if (!c.done()) c.i++;  // INDEX / TABLE / …
    info.concurrently = c.eat({"CONCURRENTLY"}) || option_concurrently;
    info.table = name();
    info.lock = {info.concurrently ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE", {info.table}};
    return info;
  }
  c.i = 0;
  if (c.word("INSERT") || c.word("UPDATE") || c.word("DELETE") || c.word("MERGE")) {
    info.what = kind::dml;
    info.verb = t[0].text;
    if (c.eat({"INSERT", "INTO"}) || c.eat({"DELETE", "FROM"}) || c.eat({"UPDATE"}) || c.eat({"MERGE", "INTO"})) {
      c.eat({"ONLY"});
      info.table = name();
    }
    info.lock = {"ROW EXCLUSIVE", {info.table}};
    return info;
  }
  if (c.word("SET") || c.word("RESET")) {
    info.what = kind::set;
    info.verb = t[0].text;
    return info;
  }
  if (c.word("VACUUM") || c.word("ANALYZE")) {
    info.what = kind::maintenance;
    info.verb = t[0].text;
    ++c.i;
    bool full = false;
    if (c.punct("(")) {
      full = option_on(paren_items(t, c.i), "full");  // VACUUM (FULL, ANALYZE) t
    } else {
      for (;;) {
        if (c.eat({"FULL"}))
          full = true;
        else if (!c.eat({"FREEZE"}) && !c.eat({"VERBOSE"}) && !c.eat({"ANALYZE"}) && !c.eat({"ANALYSE"}))
          break;
      }
    }
    if (full) info.verb = "VACUUM FULL";
    lock_tables(full ? "ACCESS EXCLUSIVE" : "SHARE UPDATE EXCLUSIVE", table_list(t, c.i));
    return info;
  }
  if (c.eat({"TRUNCATE"})) {
    info.what = kind::truncate;
    info.verb = "TRUNCATE";
    c.eat({"TABLE"});
    lock_tables("ACCESS EXCLUSIVE", table_list(t, c.i));
    return info;
  }
  if (c.eat({"LOCK"})) {
    info.what = kind::lock_table;
    info.verb = "LOCK TABLE";
    c.eat({"TABLE"});
    auto in = std::find_if(t.begin() + static_cast<long>(c.i), t.end(),
                           [](const token& k) { return k.type == token::kind::word && k.text == "IN"; });
    const auto end = static_cast<std::size_t>(in - t.begin());
    std::string mode;
    for (std::size_t j = end + 1; j < t.size() && !(t[j].type == token::kind::word && t[j].text == "MODE"); ++j)
      mode += (mode.empty() ? "" : " ") + t[j].text;
    // Without IN … MODE, LOCK takes the strongest.
    lock_tables(mode.empty() ? "ACCESS EXCLUSIVE" : mode, table_list(t, c.i, end));
    return info;
  }
  if (c.eat({"CLUSTER"})) {
    info.what = kind::cluster;
    info.verb = "CLUSTER";
    if (c.punct("("))
      paren_items(t, c.i);
    else
      c.eat({"VERBOSE"});
    // A bare CLUSTER reclusters every table clustered before: each under ACCESS EXCLUSIVE.
    if (!c.done()) info.table = fold_name(t, c.i, &info.table_schema);
    info.lock = {"ACCESS EXCLUSIVE", {info.table}};
    return info;
  }
  if (c.eat({"REFRESH", "MATERIALIZED", "VIEW"})) {
    info.what = kind::refresh;
    info.verb = "REFRESH MATERIALIZED VIEW";
    info.concurrently = c.eat({"CONCURRENTLY"});
    info.table = fold_name(t, c.i, &info.table_schema);
    // CONCURRENTLY lets reads go on (EXCLUSIVE); without it, reads of the view wait for the refresh.
    info.lock = {info.concurrently ? "EXCLUSIVE" : "ACCESS EXCLUSIVE", {info.table}};
    return info;
  }
  if (!t.empty()) info.verb = t[0].text;
  return info;
}

std::string needs_no_transaction(const std::vector<token>& t, const statement_info& info) {
  auto word = [&t](std::size_t i, std::string_view w) {
    return i < t.size() && t[i].type == token::kind::word && t[i].text == w;
  };
  if (word(0, "VACUUM")) return "VACUUM";
  if (word(0, "ALTER") && word(1, "SYSTEM")) return "ALTER SYSTEM";
  if ((word(0, "CREATE") || word(0, "DROP")) && (word(1, "DATABASE") || word(1, "TABLESPACE")))
    return t[0].text + " " + t[1].text;
  if (word(0, "REINDEX")) {  // the kinds that reindex many tables, one transaction each
    std::size_t k = 1;
    paren_items(t, k);  // past an option list: REINDEX (VERBOSE) SCHEMA app
    for (std::string_view kind : {"SYSTEM", "DATABASE", "SCHEMA"})
      if (word(k, kind)) return "REINDEX " + std::string(kind);
  }
  if (info.what == statement_info::kind::cluster && info.table.empty()) return "CLUSTER of every table";
  // REFRESH MATERIALIZED VIEW CONCURRENTLY runs in a transaction; every other CONCURRENTLY does not.
  if (info.what == statement_info::kind::refresh) return {};
  if (info.concurrently || std::any_of(t.begin(), t.end(), [](const token& k) {
        return k.type == token::kind::word && k.text == "CONCURRENTLY";
      }))
    return "CONCURRENTLY";
  return {};
}

}  // namespace zuperior::migrate
