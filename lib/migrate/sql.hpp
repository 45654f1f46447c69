#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::migrate {

/// One SQL statement of a migration file, with where it sits in the file.
struct statement {
  std::string text;      // the statement without its terminating ';' and surrounding blank space
  std::string comments;  // the comment lines right before it (lint-ignore directives live here)
  int line = 0;          // 1-based line of its first character
};

/// Splits SQL text at top-level ';' (quotes, dollar quotes, comments and E'' strings respected).
/// Throws migrate::parse_error for an unterminated quote or comment.
std::vector<statement> split_statements(std::string_view sql);

/// One lexical token: a keyword/identifier (upper-cased unless quoted), a literal or punctuation.
struct token {
  enum class kind { word, quoted_ident, string, number, punct };
  kind type;
  std::string text;  // words upper-cased; quoted identifiers unquoted; strings unquoted
};

/// The tokens of one statement, comments dropped.
std::vector<token> tokenize(std::string_view sql);

/// Tokens t[from, to) split at commas outside parentheses.
std::vector<std::vector<token>> split_commas(const std::vector<token>& t, std::size_t from, std::size_t to);

/// The actions of an ALTER TABLE statement's tokens (after the table's name), one per comma-separated
/// action ("ADD COLUMN …", "ALTER COLUMN …"); a RENAME is one action.
std::vector<std::vector<token>> alter_table_actions(const std::vector<token>& t);

/// The transaction-control command a statement is ("BEGIN", "START TRANSACTION", "COMMIT", "END",
/// "ROLLBACK", "ABORT", "PREPARE TRANSACTION", "COMMIT PREPARED", "ROLLBACK PREPARED"), or "" (also
/// for SAVEPOINT, RELEASE and ROLLBACK TO, which stay inside a transaction).
std::string transaction_control(const std::vector<token>& t);

/// The strongest table lock a statement takes, and on what.
struct lock_info {
  std::string mode;                 // "ACCESS EXCLUSIVE", "SHARE", "SHARE UPDATE EXCLUSIVE", … or "" (none)
  std::vector<std::string> tables;  // the tables it locks (unquoted names)
};

/// What a statement does, as far as planning and linting care.
struct statement_info {
  enum class kind {
    other,
    create_table,
    create_index,
    drop_index,
    alter_table,
    drop_table,
    dml,
    set,
    reindex,
    maintenance,  // VACUUM, ANALYZE
    truncate,
    lock_table,
    cluster,
    refresh,  // REFRESH MATERIALIZED VIEW
    create_trigger
  };
  kind what = kind::other;
  std::string verb;           // e.g. "CREATE INDEX", "ALTER TABLE", "INSERT"
  std::string table;          // the main table (unquoted), if any
  std::string table_schema;   // its schema when the statement names one ("audit" of audit.log), else ""
  bool concurrently = false;  // CREATE/DROP INDEX, REINDEX, REFRESH MATERIALIZED VIEW … CONCURRENTLY
  bool unique = false;        // CREATE UNIQUE INDEX
  bool if_not_exists = false;
  std::string index_name;                      // CREATE/DROP INDEX
  std::vector<std::string> index_columns;      // CREATE INDEX: key columns/expressions as written
  bool partial = false;                        // CREATE INDEX … WHERE
  std::string index_method;                    // "btree" unless USING says otherwise
  std::vector<std::string> referenced_tables;  // FOREIGN KEY / REFERENCES targets
  lock_info lock;
};

/// Classifies one statement (never throws; unknown statements are kind::other).
statement_info analyze(std::string_view sql);

/// What makes a statement unable to run inside a transaction block ("VACUUM", "CONCURRENTLY",
/// "CREATE DATABASE", …), or "" when it can: what `up` refuses in a transactional file and lint reports.
std::string needs_no_transaction(const std::vector<token>& tokens, const statement_info& info);

/// A table or index name as PostgreSQL folds it: quoted kept, unquoted lower-cased, schema dropped
/// (given `schema`, it is set to the schema when one is named).
std::string fold_name(const std::vector<token>& tokens, std::size_t& i, std::string* schema = nullptr);

}  // namespace zuperior::migrate
