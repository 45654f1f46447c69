#!/usr/bin/env bash
# migrate end to end against the throwaway PostgreSQL: fresh up, idempotence, index names and
# validity, a writer during a concurrent build, two concurrent runs, changed checksums and repair,
# transactional and no-transaction failures (rollback, resume), INVALID index rebuild, lock
# timeouts with the blocker report, baseline, lint, bad files, unreachable database; the URL's
# password in no message, one lock per history table however spelled, a success never overwritten,
# a file's session settings kept to it, CONCURRENTLY index builds without lock_timeout, stopping
# (backoff, SIGHUP, a closed output, a killed client), the runner's own failures as failed runs, a
# no-transaction file's own transaction, a Latin-1 file, baselined files not mode-checked,
# out-of-order files, long files; plan's locks and lint's rewrites, baseline in a schema and across
# renames, status during a run, a failed REINDEX CONCURRENTLY's leftovers, directives after a
# block comment and skipped files.
set -uo pipefail
bin="${ZUPERIOR_BIN:?}"
src="${ZUPERIOR_SOURCE_DIR:?}"
pg="${ZUPERIOR_TEST_PG_URL:?needs the throwaway PostgreSQL (scripts/test)}"
work="$(mktemp -d)"
prefix="mig_$$_"
dbs=()
roles=()
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null
  for d in "${dbs[@]}"; do psql "$pg" -qtA -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done
  for r in "${roles[@]}"; do psql "$pg" -qtA -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

base_url() { echo "${pg%/*}/$1"; }
newdb() {  # newdb NAME -> creates a fresh database, prints its URL
  local d="$prefix$1"
  psql "$pg" -qtA -c "CREATE DATABASE $d" >/dev/null || { echo "cannot create $d" >&2; exit 1; }
  dbs+=("$d")
  base_url "$d"
}
q() { psql "$1" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }
# mig NAME URL DIR ARGS... : runs migrate with a clean environment; rc in $rc, output in NAME.out/.err
mig() {
  local name="$1" url="$2" dir="$3"
  shift 3
  local sub="$1"
  shift
  env -i PATH="$PATH" HOME="$work" "$bin" migrate "$sub" --config /dev/null --database-url "$url" --dir "$dir" "$@" \
    >"$name.out" 2>"$name.err"
  rc=$?
}
want_rc() { [ "$rc" = "$2" ] || fail "$1: exit $rc, wanted $2: $(head -c 1500 "$1.out" "$1.err")"; }
has() { grep -q -- "$2" "$1.out" "$1.err" || fail "$1: output lacks '$2': $(head -c 1500 "$1.out" "$1.err")"; }

shipped="$src/migrations"
nfiles=$(ls "$shipped"/*.sql | wc -l)

# 1. Fresh database: up creates everything, status all applied, second up a no-op.
db1="$(newdb fresh)"
start=$(date +%s%N)
mig up1 "$db1" "$shipped" up
end=$(date +%s%N)
want_rc up1 0
echo "measure: migrate up on an empty database took $(((end - start) / 1000000)) ms"
mig status1 "$db1" "$shipped" status --format json
want_rc status1 0
# A configuration warning (an unknown ZUPERIOR_* variable) goes to stderr: stdout is only the JSON.
env -i PATH="$PATH" HOME="$work" ZUPERIOR_NO_SUCH_KEY=1 "$bin" migrate status --config /dev/null \
  --database-url "$db1" --dir "$shipped" --format json >warned.out 2>warned.err
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' warned.out ||
  fail "migrate --format json with a config warning: stdout is not JSON: $(head -c 500 warned.out)"
grep -q "ZUPERIOR_NO_SUCH_KEY" warned.err || fail "the config warning is not on stderr: $(head -c 500 warned.err)"
python3 - "$work/status1.out" "$nfiles" <<'PY' || fail "status1: not all applied"
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["migrations"]) == int(sys.argv[2]), s
assert all(m["state"] == "applied" for m in s["migrations"]), s
assert s["migrations"][1]["applied_mode"] == "no-transaction"
PY
mig up1b "$db1" "$shipped" up
want_rc up1b 0
has up1b "nothing to apply"
[ "$(q "$db1" "SELECT count(*) FROM zuperior_schema_history WHERE success")" = "$nfiles" ] || fail "history rows"
expected='Account_pkey Account_userId_idx ActivityLog_action_idx ActivityLog_adminId_idx ActivityLog_createdAt_idx ActivityLog_entity_idx ActivityLog_pkey ActivityLog_userId_idx KYC_pkey KYC_userId_key MT5Account_accountId_key MT5Account_pkey MT5Account_userId_idx MT5Transaction_createdAt_idx MT5Transaction_mt5AccountId_idx MT5Transaction_pkey ManualDeposit_createdAt_idx ManualDeposit_mt5AccountId_idx ManualDeposit_pkey ManualDeposit_status_idx ManualDeposit_userId_idx Transaction_accountId_idx Transaction_createdAt_idx Transaction_pkey Transaction_status_idx Transaction_userId_idx User_clientId_key User_createdAt_idx User_email_key User_lastLoginAt_idx User_pkey User_status_idx Withdrawal_createdAt_idx Withdrawal_pkey Withdrawal_status_idx Withdrawal_userId_idx'
got=$(q "$db1" "SELECT string_agg(c.relname, ' ' ORDER BY c.relname COLLATE \"C\") FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND t.relname <> 'zuperior_schema_history' AND i.indisvalid")
[ "$got" = "$expected" ] && pass "36 valid indexes with Prisma's names" || fail "indexes: got $got"
[ "$(q "$db1" "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")" = 10 ] || fail "table count"
[ "$(q "$db1" "SELECT data_type FROM information_schema.columns WHERE table_name='MT5Account' AND column_name='balance'")" = "double precision" ] || fail "MT5Account.balance type"
[ "$(q "$db1" "SELECT datetime_precision FROM information_schema.columns WHERE table_name='User' AND column_name='createdAt'")" = 3 ] || fail "timestamp(3)"

# 2. A concurrent index build does not block a writer.
db2="$(newdb writer)"
mig up2a "$db2" "$shipped" up --to 1
want_rc up2a 0
q "$db2" "INSERT INTO \"User\" (id, \"clientId\", email, password, status, \"createdAt\") SELECT 'u'||g, 'c'||g, 'e'||g||'@x', 'h', CASE WHEN g % 10 = 0 THEN 'banned' ELSE 'active' END, now() - g * interval '1 second' FROM generate_series(1, 300000) g" >/dev/null
q "$db2" "CREATE TABLE writes (n int, at timestamptz DEFAULT clock_timestamp())"
( for i in $(seq 1 100000); do echo "INSERT INTO \"User\" (id, \"clientId\", email, password) VALUES ('w$i', 'wc$i', 'w$i@x', 'h'); INSERT INTO writes (n) VALUES ($i);"; done | PGAPPNAME=mig_writer psql "$db2" -qX >/dev/null 2>&1 ) &
writer=$!
sleep 1
mig up2b "$db2" "$shipped" up
want_rc up2b 0
q "$db2" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'mig_writer'" >/dev/null
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
# Writes that landed while 0002 (the "User" indexes) was building.
during=$(q "$db2" "SELECT count(*) FROM writes w, zuperior_schema_history h WHERE h.version = 2 AND w.at BETWEEN h.applied_at - h.execution_ms * interval '1 millisecond' AND h.applied_at")
build_ms=$(q "$db2" "SELECT execution_ms FROM zuperior_schema_history WHERE version = 2")
[ "${during:-0}" -gt 0 ] && pass "writer inserted $during rows into \"User\" during the ${build_ms}ms concurrent build" \
  || fail "no writes landed during the index build (build ${build_ms}ms)"
[ "$(q "$db2" "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = '\"User\"'::regclass")" = t ] || fail "User indexes valid"

# 3. Two `up` at once: one applies, the other waits and finds nothing left; a short --lock-wait names the holder.
mkdir slow && cp "$shipped"/*.sql slow/ && printf 'SELECT pg_sleep(3);\n' > slow/0099_slow.sql
db3="$(newdb race)"
mig race_a "$db3" slow up &
pa=$!
# b starts once a holds the migration lock (an advisory lock in that database), whatever the
# machine's speed: b must be the one that waits.
advisory_held() {
  [ "$(q "$db3" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" -ge 1 ]
}
for _ in $(seq 200); do advisory_held && break; sleep 0.05; done
advisory_held || fail "race: a never took the migration lock"
mig race_b "$db3" slow up &
pb=$!
sleep 0.3
mig race_c "$db3" slow up --lock-wait 300ms
want_rc race_c 1
has race_c "holds the migration lock"
has race_c "held by pid"
has race_c "zuperior migrate"
wait "$pa"; rca=$?
wait "$pb"; rcb=$?
[ "$rca" = 0 ] && [ "$rcb" = 0 ] || fail "race: exits $rca $rcb: $(cat race_a.err race_b.err)"
applied_a=$(grep -c '^applying' race_a.out); applied_b=$(grep -c '^applying' race_b.out)
[ "$((applied_a + applied_b))" = "$((nfiles + 1))" ] && { [ "$applied_a" = 0 ] || [ "$applied_b" = 0 ]; } \
  && pass "two concurrent ups: one applied $((applied_a + applied_b)) files, the other none" \
  || fail "race: a applied $applied_a, b applied $applied_b"
grep -q "nothing to apply" race_b.out || grep -q "nothing to apply" race_a.out || fail "race: the loser did not report nothing to apply"
grep -q "waiting for the migration lock" race_b.out || fail "race: b did not wait: $(cat race_b.out)"

# 4. An edited applied file is refused; repair accepts it.
mkdir edited && cp "$shipped"/*.sql edited/
db4="$(newdb edit)"
mig up4 "$db4" edited up
want_rc up4 0
echo "-- an edit after the fact" >> edited/0003_mt5account_indexes.sql
mig up4b "$db4" edited up
want_rc up4b 1
has up4b "changed on disk"
has up4b "0003_mt5account_indexes.sql"
mig st4 "$db4" edited status
want_rc st4 1
has st4 "changed"
mig rep4 "$db4" edited repair
want_rc rep4 0
has rep4 "accepted the new checksum"
mig up4c "$db4" edited up
want_rc up4c 0

# 5. A failing statement in a transactional file: nothing of it stays, history records the error.
mkdir txfail && cp "$shipped"/0001_base_schema.sql txfail/
printf 'CREATE TABLE "Tmp7" (id int);\nINSERT INTO "Tmp7" VALUES (1);\nINSERT INTO "Nope" VALUES (1);\n' > txfail/0007_bad.sql
db5="$(newdb txfail)"
mig up5 "$db5" txfail up
want_rc up5 1
has up5 "0007_bad.sql failed at line 3 and was rolled back"
has up5 'relation "Nope" does not exist'
[ "$(q "$db5" "SELECT to_regclass('\"Tmp7\"') IS NULL")" = t ] && pass "failed transactional file left nothing" || fail "Tmp7 exists after rollback"
[ "$(q "$db5" "SELECT success::text || '|' || failed_line || '|' || error FROM zuperior_schema_history WHERE version = 7")" = 'false|3|relation "Nope" does not exist' ] \
  || fail "history of the failure: $(q "$db5" "SELECT * FROM zuperior_schema_history WHERE version = 7")"
[ "$(q "$db5" "SELECT success FROM zuperior_schema_history WHERE version = 1")" = t ] || fail "0001 should stay applied"
# CONCURRENTLY in a transactional file is refused before anything runs.
printf 'CREATE TABLE "Tmp8" (id int);\nCREATE INDEX CONCURRENTLY "Tmp8_i" ON "Tmp8" (id);\n' > txfail/0008_conc.sql
rm txfail/0007_bad.sql
mig up5b "$db5" txfail up
want_rc up5b 1
has up5b "0008_conc.sql:2: CONCURRENTLY cannot run inside a transaction"
[ "$(q "$db5" "SELECT to_regclass('\"Tmp8\"') IS NULL")" = t ] || fail "Tmp8 was created although the file was refused"

# 6. A failing statement in a no-transaction file: the next run resumes at it.
mkdir ntx && cp "$shipped"/0001_base_schema.sql ntx/
cat > ntx/0002_steps.sql <<'SQL'
-- zuperior:no-transaction
CREATE TABLE IF NOT EXISTS "T8" (id int, b int);
CREATE INDEX CONCURRENTLY IF NOT EXISTS "T8_id_idx" ON "T8" (id);
INSERT INTO "T8_missing" VALUES (1);
CREATE INDEX CONCURRENTLY IF NOT EXISTS "T8_b_idx" ON "T8" (b);
SQL
db6="$(newdb resume)"
mig up6 "$db6" ntx up
want_rc up6 1
has up6 "failed at statement 3 of 4"
has up6 "resumes at statement 3"
[ "$(q "$db6" "SELECT statements_done || '/' || statements_total || ' ' || success FROM zuperior_schema_history WHERE version = 2")" = "2/4 false" ] || fail "resume bookkeeping"
mig st6 "$db6" ntx status --format json
want_rc st6 1
grep -q '"state": "failed"' st6.out || fail "status does not show failed"
# Fix the cause (not the file); drop what statement 2 built, to prove it is not run again.
q "$db6" 'CREATE TABLE "T8_missing" (id int); DROP INDEX "T8_id_idx"'
mig up6b "$db6" ntx up
want_rc up6b 0
has up6b "resuming at statement 3"
[ "$(q "$db6" "SELECT (to_regclass('\"T8_id_idx\"') IS NULL)::text || (to_regclass('\"T8_b_idx\"') IS NOT NULL)::text || (SELECT count(*) FROM \"T8_missing\")")" = "truetrue1" ] \
  && pass "no-transaction file resumed at the failed statement" || fail "resume ran the wrong statements"

# 7. An INVALID index left by a failed concurrent build is dropped and rebuilt.
db7="$(newdb invalid)"
mig up7 "$db7" "$shipped" up --to 1
want_rc up7 0
q "$db7" "INSERT INTO \"User\" (id, \"clientId\", email, password) VALUES ('a','a','a','h'), ('b','b','b','h')" >/dev/null
psql "$db7" -qX -c 'CREATE UNIQUE INDEX CONCURRENTLY "User_status_idx" ON "User" ("status")' >/dev/null 2>&1
[ "$(q "$db7" "SELECT indisvalid FROM pg_index WHERE indexrelid = '\"User_status_idx\"'::regclass")" = f ] || fail "setup: no INVALID index"
mig up7b "$db7" "$shipped" up
want_rc up7b 0
has up7b 'dropping INVALID index "User_status_idx"'
[ "$(q "$db7" "SELECT indisvalid::text || indisunique::text FROM pg_index WHERE indexrelid = '\"User_status_idx\"'::regclass")" = "truefalse" ] \
  && pass "INVALID index rebuilt" || fail "User_status_idx not rebuilt"

# 8. Lock timeouts: retried with backoff, then the blocking session is named.
mkdir locked && cp "$shipped"/0001_base_schema.sql locked/
printf 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n' > locked/0002_nick.sql
db8="$(newdb locked)"
mig up8 "$db8" locked up --to 1
( PGAPPNAME=the_blocker psql "$db8" -qX -c 'BEGIN' -c 'LOCK TABLE "User" IN ACCESS SHARE MODE' -c 'SELECT pg_sleep(30)' >/dev/null 2>&1 ) &
blocker=$!
# Until the blocker holds its lock on "User" (a fixed sleep let a slow start pass the ALTER).
for _ in $(seq 200); do
  [ "$(q "$db8" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'the_blocker' AND l.relation = '\"User\"'::regclass AND l.granted")" -ge 1 ] && break
  sleep 0.05
done
mig up8b "$db8" locked up --lock-timeout 200ms --retries 2 --retry-backoff 100ms
want_rc up8b 1
has up8b "retry 2/2"
has up8b "canceling statement due to lock timeout"
has up8b "the_blocker"
has up8b "sessions that held it up"
kill "$blocker" 2>/dev/null; psql "$db8" -qtAX -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'the_blocker'" >/dev/null
wait "$blocker" 2>/dev/null
mig up8c "$db8" locked up
want_rc up8c 0

# 9. Baseline adopts a database created by running the schema by hand.
db9="$(newdb baseline)"
psql "$db9" -qX -v ON_ERROR_STOP=1 -1 -f "$shipped/0001_base_schema.sql" >/dev/null || fail "hand schema"
for f in "$shipped"/000[2-9]*.sql; do psql "$db9" -qX -v ON_ERROR_STOP=1 -f "$f" >/dev/null || fail "hand $f"; done
last=$(basename "$(ls "$shipped"/*.sql | tail -1)" | cut -c1-4)
mig bl9 "$db9" "$shipped" baseline --version "$last"
want_rc bl9 0
has bl9 "baselined $nfiles migrations"
mig st9 "$db9" "$shipped" status
want_rc st9 0
[ "$(grep -c baselined st9.out)" = "$nfiles" ] || fail "status after baseline: $(cat st9.out)"
mig up9 "$db9" "$shipped" up
has up9 "nothing to apply"
db9b="$(newdb baseline_missing)"
psql "$db9b" -qX -c 'CREATE TABLE "User" (id text)' >/dev/null
mig bl9b "$db9b" "$shipped" baseline --version 1
want_rc bl9b 1
has bl9b 'table "Account" does not exist'
has bl9b 'column "User"."clientId" does not exist'
[ "$(q "$db9b" "SELECT count(*) FROM zuperior_schema_history")" = 0 ] || fail "baseline recorded despite missing tables"
# What an ALTER TABLE adds is checked too (a file adding a column was baselined without it, and up
# never added it): refused until the column and the named constraint exist.
mkdir addcol && cp "$shipped"/*.sql addcol/
printf 'ALTER TABLE "User" ADD COLUMN "phoneVerified" boolean, ADD COLUMN IF NOT EXISTS nick text;\nALTER TABLE "User" ADD CONSTRAINT "User_nick_check" CHECK (nick <> %s) NOT VALID;\n' "''" >addcol/0099_add_phone.sql
mig bl9c "$db9" addcol baseline --version 99
want_rc bl9c 1
has bl9c 'column "User"."phoneVerified" does not exist'
has bl9c 'column "User"."nick" does not exist'
has bl9c 'constraint "User_nick_check" on "User" does not exist'
q "$db9" 'ALTER TABLE "User" ADD COLUMN "phoneVerified" boolean, ADD COLUMN nick text' >/dev/null
mig bl9d "$db9" addcol baseline --version 99
want_rc bl9d 1
has bl9d 'constraint "User_nick_check"'
q "$db9" "ALTER TABLE \"User\" ADD CONSTRAINT \"User_nick_check\" CHECK (nick <> '') NOT VALID" >/dev/null
mig bl9e "$db9" addcol baseline --version 99
want_rc bl9e 0
has bl9e "baselined 1 migration"

# 10. Lint: the shipped files pass; a bad file shows every seeded pattern.
mig lint_ok "$db1" "$shipped" lint
want_rc lint_ok 0
has lint_ok "0 findings"
cat > bad.sql <<'SQL'
CREATE INDEX "User_phone_idx" ON "User" ("phone");
CREATE INDEX CONCURRENTLY "User_country_idx" ON "User" ("country");
ALTER TABLE "User" ADD COLUMN "token" uuid DEFAULT gen_random_uuid();
ALTER TABLE "User" ALTER COLUMN "phone" SET NOT NULL;
ALTER TABLE "MT5Account" ADD CONSTRAINT "MT5Account_x_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");
ALTER TABLE "User" ADD CONSTRAINT "User_role_check" CHECK ("role" <> '');
ALTER TABLE "User" ALTER COLUMN "country" TYPE varchar(2);
ALTER TABLE "User" RENAME COLUMN "name" TO "fullName";
ALTER TABLE "User" DROP COLUMN "phone";
SET lock_timeout = 0;
CREATE INDEX "User_email_idx" ON "User" ("email");
SQL
cp bad.sql 0099_bad.sql
mig lint_bad "$db1" "$shipped" lint "$work/0099_bad.sql" --format json
want_rc lint_bad 1
python3 - "$work/lint_bad.out" <<'PY' || fail "lint findings on the bad file"
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
rules = {(x["rule"], x["line"]) for x in f}
for want in [("index-not-concurrent", 1), ("concurrently-in-transaction", 2), ("volatile-default", 3), ("not-null", 4),
             ("constraint-not-valid", 5), ("constraint-not-valid", 6), ("column-type-change", 7), ("rename", 8),
             ("drop", 9), ("missing-timeout", 10), ("redundant-index", 11)]:
    assert want in rules, (want, sorted(rules))
assert all(x["safer"] and x["file"].endswith("0099_bad.sql") for x in f)
assert any("User_email_key" in x["message"] for x in f if x["rule"] == "redundant-index")
PY
mig lint_err "$db1" "$shipped" lint "$work/0099_bad.sql" --fail-on error
want_rc lint_err 1
has lint_err "0099_bad.sql:3: error \[volatile-default\]"
printf -- '-- zuperior:no-transaction\nALTER TABLE "User" RENAME COLUMN "name" TO "fullName";\n' > 0098_warn.sql
mig lint_warn "$db1" "$shipped" lint "$work/0098_warn.sql" --fail-on error
want_rc lint_warn 0
mig lint_warn2 "$db1" "$shipped" lint "$work/0098_warn.sql" --fail-on warning
want_rc lint_warn2 1
# A file named on the command line that is missing, unreadable or a directory cannot be linted:
# exit 2 like a missing --dir (it was 1, the code of a finding), with the reason.
mig lint_missing "$db1" "$shipped" lint --fail-on error "$work/missing.sql"
want_rc lint_missing 2
has lint_missing "cannot read $work/missing.sql: No such file or directory"
mig lint_missing_json "$db1" "$shipped" lint "$work/0098_warn.sql" "$work/missing.sql" --format json
want_rc lint_missing_json 2
python3 -c "import json; j=json.load(open('lint_missing_json.out')); assert j['ok'] is False and 'missing.sql' in j['error'], j" ||
  fail "lint_missing_json: $(head -c 600 lint_missing_json.out)"
ln -s /nonexistent/file 0097_gone.sql
mig lint_dangling "$db1" "$shipped" lint "$work/0097_gone.sql"
want_rc lint_dangling 2
has lint_dangling "cannot read $work/0097_gone.sql"
mkdir 0096_dir.sql
mig lint_isdir "$db1" "$shipped" lint "$work/0096_dir.sql"
want_rc lint_isdir 2
has lint_isdir "it is a directory"
# Named files in any order are all linted (higher version first dropped the ones named before a
# lower one: "1 file linted, 0 findings", exit 0); two of one version are refused.
mig lint_order "$db1" "$shipped" lint --fail-on error "$work/0099_bad.sql" "$work/0098_warn.sql"
want_rc lint_order 1
has lint_order "0099_bad.sql:3: error \[volatile-default\]"
has lint_order "0098_warn.sql:2: warning \[rename\]"
cp 0098_warn.sql 0099_same.sql
mig lint_samever "$db1" "$shipped" lint "$work/0099_bad.sql" "$work/0099_same.sql"
want_rc lint_samever 2
has lint_samever "both have version 99"
# A '$' after a number ("1$$") sent the tokenizer into a loop that ate memory until the OOM killer;
# a NUL byte cut a statement short at PostgreSQL. Both now end at once: a lint, and a refusal.
printf 'SELECT 1$$;\n' > 0095_dollar.sql
mig lint_dollar "$db1" "$shipped" lint "$work/0095_dollar.sql"
want_rc lint_dollar 0
printf 'SELECT 1;\nDELETE FROM "User"\000 WHERE false;\n' > 0094_nul.sql
mig lint_nul "$db1" "$shipped" lint "$work/0094_nul.sql"
want_rc lint_nul 1
has lint_nul "0094_nul.sql:2: a NUL byte"

# 11. Bad migration files and directories give clear errors.
mkdir nover && printf 'SELECT 1;\n' > nover/users.sql
mig bad_nover "$db1" nover status
want_rc bad_nover 1
has bad_nover "users.sql: the file name has no version"
mkdir dup && printf 'SELECT 1;\n' > dup/0001_a.sql && printf 'SELECT 2;\n' > dup/0001_b.sql
mig bad_dup "$db1" dup up
want_rc bad_dup 1
has bad_dup "version 1 is also used by 0001_a.sql"
mkdir empty && printf -- '-- nothing yet\n' > empty/0001_empty.sql
mig bad_empty "$db1" empty up
want_rc bad_empty 1
has bad_empty "0001_empty.sql: the file has no SQL statements"
mkdir unread && ln -s /nonexistent/file unread/0001_gone.sql
mig bad_unread "$db1" unread up
want_rc bad_unread 1
has bad_unread "0001_gone.sql: the file does not exist (a broken symbolic link?)"
# A named pipe among the migrations made every command wait for a writer forever.
mkdir fifo && cp "$shipped"/*.sql fifo/ && mkfifo fifo/9999_pipe.sql
for sub in lint status up; do
  timeout 20 env -i PATH="$PATH" HOME="$work" "$bin" migrate "$sub" --config /dev/null --database-url "$db1" \
    --dir fifo >"bad_fifo_$sub.out" 2>"bad_fifo_$sub.err"
  rc=$?
  want_rc "bad_fifo_$sub" 1
  has "bad_fifo_$sub" "9999_pipe.sql: not a regular file (a named pipe)"
done
mkdir subdir && mkdir subdir/0001_dir.sql
mig bad_subdir "$db1" subdir status
want_rc bad_subdir 1
has bad_subdir "0001_dir.sql: not a regular file (a directory)"
mkdir unterminated && printf "SELECT 'oops;\n" > unterminated/0001_q.sql
mig bad_quote "$db1" unterminated lint
want_rc bad_quote 1
has bad_quote "unterminated string starting on line 1"
mig bad_dir "$db1" "$work/nope" up
want_rc bad_dir 2
has bad_dir "does not exist"

# 12. An unreachable database: a clear error within the connect timeout.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s)
mig unreach "postgresql://u:secretpw@127.0.0.1:$port/x?connect_timeout=3" "$shipped" up
end=$(date +%s)
want_rc unreach 2
has unreach "cannot connect to the database"
grep -q secretpw unreach.out unreach.err && fail "the password was printed"
[ $((end - start)) -le 5 ] || fail "unreachable took $((end - start))s"
mig unreach_wait "postgresql://u@127.0.0.1:$port/x?connect_timeout=1" "$shipped" status --wait-for-db 2s
want_rc unreach_wait 2
has unreach_wait "gave up after"

# 13. plan shows statements, modes and locks; --format json parses.
db13="$(newdb plan)"
mig plan13 "$db13" "$shipped" plan
want_rc plan13 0
has plan13 "0001_base_schema.sql (in one transaction"
has plan13 "0002_user_indexes.sql (without a transaction"
has plan13 "lock: SHARE UPDATE EXCLUSIVE on \"User\""
mig plan13j "$db13" "$shipped" plan --format json
python3 -c "import json,sys; p=json.load(open('plan13j.out'))['plan']; assert len(p)==$nfiles and p[1]['statements'][0]['lock']=='SHARE UPDATE EXCLUSIVE'" || fail "plan json"
[ "$(q "$db13" "SELECT to_regclass('\"User\"') IS NULL")" = t ] || fail "plan changed the database"

# 14. An index on a table outside the search path: its build is checked in the table's schema (by
# the search path alone it was "missing after the build" on every run), and an INVALID one left
# there by a failed build is dropped before the rebuild.
db14="$(newdb schema)"
mkdir sch
printf 'CREATE SCHEMA audit;\nCREATE TABLE audit.log (ts timestamptz, n int);\n' >sch/0001_audit.sql
printf -- '-- zuperior:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS log_ts_idx ON audit.log (ts);\n' >sch/0002_audit_idx.sql
mig up14 "$db14" sch up
want_rc up14 0
[ "$(q "$db14" "SELECT indisvalid FROM pg_index WHERE indexrelid = 'audit.log_ts_idx'::regclass")" = t ] ||
  fail "schema: the index on audit.log is not there and valid"
# An INVALID index of that name (what a failed CONCURRENTLY build leaves) is dropped and rebuilt.
printf -- '-- zuperior:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS log_n_idx ON audit.log (n);\n' >sch/0003_audit_n.sql
q "$db14" "INSERT INTO audit.log VALUES (now(), 1), (now(), 1)" >/dev/null
mig up14b "$db14" sch up
want_rc up14b 1
[ "$(q "$db14" "SELECT indisvalid FROM pg_index WHERE indexrelid = 'audit.log_n_idx'::regclass")" = f ] ||
  fail "schema: the failed build left no INVALID index to test with"
q "$db14" "DELETE FROM audit.log WHERE ctid = (SELECT min(ctid) FROM audit.log)" >/dev/null
mig up14c "$db14" sch up
want_rc up14c 0
has up14c "dropping INVALID index audit.log_n_idx"
[ "$(q "$db14" "SELECT indisvalid FROM pg_index WHERE indexrelid = 'audit.log_n_idx'::regclass")" = t ] ||
  fail "schema: the rebuilt index is not valid"

# 15. The connection holding the migration lock is terminated during a run: up stops before the
# next file (another migrate could have started), and says why; the file in progress completes.
db15="$(newdb lockloss)"
mkdir lockloss
printf 'CREATE TABLE slow (x int);\nSELECT pg_sleep(2);\n' >lockloss/0001_slow.sql
printf 'CREATE TABLE after_slow (x int);\n' >lockloss/0002_after.sql
running() {  # running DB STATEMENT: true once another session runs exactly that statement
  [ "$(q "$1" "SELECT count(*) FROM pg_stat_activity WHERE query = '$2' AND pid <> pg_backend_pid()")" -ge 1 ]
}
# The lock connection goes while the first file runs (waited for, not slept on).
( for _ in $(seq 200); do running "$db15" "SELECT pg_sleep(2)" && break; sleep 0.05; done
  q "$db15" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'zuperior migrate%lock'" >/dev/null ) &
mig up15 "$db15" lockloss up
wait
want_rc up15 1
has up15 "lost the connection that holds the migration lock"
[ "$(q "$db15" "SELECT to_regclass('after_slow') IS NULL")" = t ] || fail "lockloss: the next file ran without the lock"
[ "$(q "$db15" "SELECT success FROM zuperior_schema_history WHERE version = 1")" = t ] ||
  fail "lockloss: the file in progress was not recorded"
mig up15b "$db15" lockloss up
want_rc up15b 0

# 16. SIGINT during up: the statement running on the server is cancelled (killed outright, the
# server went on running it after the lock had gone), the file is recorded as failed where it
# stopped, exit 1 at once.
# sleeping_up NAME URL DIR: `up` of a no-transaction file (a table, a 30 s sleep, a table) in the
# background, returned once the sleep runs on the server; its pid in $upid, output in NAME.out/.err.
sleeping_up() {
  mkdir "$3"
  printf -- '-- zuperior:no-transaction\nCREATE TABLE before_sleep (x int);\nSELECT pg_sleep(30);\nCREATE TABLE after_sleep (x int);\n' >"$3/0001_sleep.sql"
  env -i PATH="$PATH" HOME="$work" "$bin" migrate up --config /dev/null --database-url "$2" --dir "$3" >"$1.out" 2>"$1.err" &
  upid=$!
  for _ in $(seq 200); do running "$2" "SELECT pg_sleep(30)" && break; sleep 0.05; done
}
db16="$(newdb sigint)"
sleeping_up up16 "$db16" sigint
kill -INT "$upid"
t0=$(date +%s)
wait "$upid" && rc=0 || rc=$?
took=$(($(date +%s) - t0))
want_rc up16 1
[ "$took" -le 3 ] || fail "sigint: up took ${took}s to stop"
has up16 "cancelling the running statement"
has up16 "canceling statement due to user request"
[ "$(q "$db16" "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND pid <> pg_backend_pid()")" = 0 ] ||
  fail "sigint: the statement still runs on the server"
[ "$(q "$db16" "SELECT statements_done || ' ' || success FROM zuperior_schema_history WHERE version = 1")" = "1 false" ] ||
  fail "sigint: the history does not say where it stopped: $(q "$db16" "SELECT * FROM zuperior_schema_history")"
[ "$(q "$db16" "SELECT to_regclass('after_sleep') IS NULL")" = t ] || fail "sigint: the statements after the cancel ran"

# 17. --history-table schema.table: the history lives there (its schema created), the default table
# is never created, status reads the same table, and a bad name is a usage error before connecting.
db17="$(newdb histtable)"
mig up17 "$db17" "$shipped" up --history-table ops.mig_history
want_rc up17 0
[ "$(q "$db17" "SELECT count(*) FROM ops.mig_history WHERE success")" = "$nfiles" ] ||
  fail "history-table: ops.mig_history does not hold every applied file: $(q "$db17" "SELECT version, success FROM ops.mig_history")"
[ "$(q "$db17" "SELECT to_regclass('public.zuperior_schema_history') IS NULL")" = t ] ||
  fail "history-table: the default history table was created too"
mig status17 "$db17" "$shipped" status --history-table ops.mig_history --format json
want_rc status17 0
python3 - "$work/status17.out" "$nfiles" <<'PY2' || fail "history-table: status does not read the custom table: $(head -c 600 status17.out)"
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["migrations"]
assert len(rows) == int(sys.argv[2]) and all(r["state"] == "applied" for r in rows), rows
PY2
# The same database seen through the default table: nothing applied, everything pending.
mig status17d "$db17" "$shipped" status --format json
python3 - "$work/status17d.out" <<'PY2' || fail "history-table: the default table should show everything pending: $(head -c 600 status17d.out)"
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["migrations"]
assert rows and all(r["state"] == "pending" for r in rows), rows
PY2
mig bad17 "postgresql://nobody@127.0.0.1:1/x" "$shipped" status --history-table 'ops.x;drop'
want_rc bad17 2
has bad17 "must be table or schema.table"

# 18. The URL's password is in no message, whatever its shape: libpq quotes a token it cannot decode
# ("invalid percent-encoded token: "S3cret%PW"", in the text and in the JSON's error).
hostport="${pg#*@}"
hostport="${hostport%%/*}"
for url in "postgresql://postgres:S3cret%PW@$hostport/postgres" "postgresql://postgres@$hostport/postgres?password=S3cret%PW" \
  "postgresql://postgres:S3cret%00PW@$hostport/postgres"; do
  for format in text json; do
    mig leak "$url" "$shipped" status --format "$format"
    want_rc leak 2
    has leak "cannot connect to the database"
    grep -q "S3cret" leak.out leak.err && fail "the password was printed ($url, $format): $(cat leak.out leak.err)"
  done
done

# 19. One history table, one lock, whatever the spelling: "zuperior_schema_history" and
# "public.zuperior_schema_history" took two locks and two runs applied at once.
db19="$(newdb spelling)"
mkdir spell && printf 'CREATE TABLE spelled (x int);\nSELECT pg_sleep(3);\n' >spell/0001_slow.sql
mig spell_a "$db19" spell up &
pa=$!
for _ in $(seq 200); do running "$db19" "SELECT pg_sleep(3)" && break; sleep 0.05; done
mig spell_b "$db19" spell up --history-table public.zuperior_schema_history --lock-wait 300ms
want_rc spell_b 1
has spell_b "holds the migration lock"
wait "$pa"
mig spell_c "$db19" spell status --history-table public.zuperior_schema_history
want_rc spell_c 0
has spell_c "applied"
# A success is never replaced by a failure: while statement 1 runs, another run (here psql) records
# the version as applied; this run stops instead of overwriting that row with its failure.
db19b="$(newdb overwrite)"
mkdir overwrite
printf -- '-- zuperior:no-transaction\nSELECT pg_sleep(2);\nSELECT 1/0;\n' >overwrite/0001_race.sql
( for _ in $(seq 200); do running "$db19b" "SELECT pg_sleep(2)" && break; sleep 0.05; done
  q "$db19b" "UPDATE zuperior_schema_history SET success = true, statements_done = 2 WHERE version = 1" >/dev/null ) &
mig overwrite "$db19b" overwrite up
wait
want_rc overwrite 1
has overwrite "another run recorded version 1 as applied meanwhile"
[ "$(q "$db19b" "SELECT success FROM zuperior_schema_history WHERE version = 1")" = t ] ||
  fail "overwrite: the success row was replaced: $(q "$db19b" "SELECT * FROM zuperior_schema_history")"

# 20. A file's session settings stay in the file: its SET search_path made the runner's history
# writes miss the table ("relation zuperior_schema_history does not exist"), and reached the next file.
db20="$(newdb session)"
mkdir sess
printf 'CREATE SCHEMA audit;\nSET search_path TO audit;\nCREATE TABLE a1 (x int);\n' >sess/0001_audit.sql
printf 'CREATE TABLE t2 (x int);\n' >sess/0002_t2.sql
printf -- '-- zuperior:no-transaction\nSET search_path TO audit;\nCREATE TABLE a3 (x int);\n' >sess/0003_audit.sql
printf 'CREATE TABLE t4 (x int);\n' >sess/0004_t4.sql
mig up20 "$db20" sess up
want_rc up20 0
[ "$(q "$db20" "SELECT (to_regclass('audit.a1') IS NOT NULL)::text || (to_regclass('public.t2') IS NOT NULL)::text || (to_regclass('audit.a3') IS NOT NULL)::text || (to_regclass('public.t4') IS NOT NULL)::text")" = truetruetruetrue ] ||
  fail "session: a file's search_path reached the next file: $(q "$db20" "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ('a1','t2','a3','t4')")"
[ "$(q "$db20" "SELECT count(*) FROM public.zuperior_schema_history WHERE success")" = 4 ] || fail "session: history"
[ "$(q "$db20" "SELECT to_regclass('audit.zuperior_schema_history') IS NULL")" = t ] || fail "session: a second history in audit"

# 21. CONCURRENTLY index operations wait without lock_timeout: their wait for older transactions
# (an unrelated long one here) failed with a lock timeout after the whole build, again per retry.
db21="$(newdb concurrent_wait)"
mkdir cwait
printf 'CREATE TABLE big (x int);\nINSERT INTO big SELECT generate_series(1, 10000);\n' >cwait/0001_big.sql
printf -- '-- zuperior:no-transaction\nCREATE INDEX CONCURRENTLY big_x_idx ON big (x);\nREINDEX INDEX CONCURRENTLY big_x_idx;\n' >cwait/0002_idx.sql
mig up21a "$db21" cwait up --to 1
want_rc up21a 0
( PGAPPNAME=long_reader psql "$db21" -qX -c 'SELECT pg_sleep(3)' >/dev/null 2>&1 ) &
reader=$!
for _ in $(seq 200); do running "$db21" "SELECT pg_sleep(3)" && break; sleep 0.05; done
mig up21b "$db21" cwait up --lock-timeout 200ms --retries 1 --retry-backoff 100ms
want_rc up21b 0
wait "$reader"
[ "$(q "$db21" "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_x_idx'::regclass")" = t ] || fail "concurrent_wait: index not valid"

# 22. Stopping: a signal during a retry's backoff ends the run at once (the backoff slept on and the
# retries ran); SIGHUP (an ssh session dropped) cancels like SIGINT; a closed output (`up | less`,
# quit) stops before the next file instead of dying of SIGPIPE; a client killed outright has its
# statement aborted by the server (client_connection_check_interval).
db22="$(newdb stopping)"
mkdir stopping && printf 'CREATE TABLE s (x int);\n' >stopping/0001_s.sql
printf 'ALTER TABLE s ADD COLUMN y int;\n' >stopping/0002_y.sql
mig up22a "$db22" stopping up --to 1
want_rc up22a 0
( PGAPPNAME=the_blocker psql "$db22" -qX -c 'BEGIN' -c 'LOCK TABLE s IN ACCESS SHARE MODE' -c 'SELECT pg_sleep(30)' >/dev/null 2>&1 ) &
blocker=$!
for _ in $(seq 200); do running "$db22" "SELECT pg_sleep(30)" && break; sleep 0.05; done
env -i PATH="$PATH" HOME="$work" "$bin" migrate up --config /dev/null --database-url "$db22" --dir stopping \
  --lock-timeout 100ms --retries 3 --retry-backoff 20s >backoff.out 2>backoff.err &
upid=$!
for _ in $(seq 200); do grep -q "retry 1/3" backoff.out && break; sleep 0.05; done
kill -INT "$upid"
t0=$(date +%s)
for _ in $(seq 100); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$upid" 2>/dev/null
wait "$upid" && rc=0 || rc=$?
took=$(($(date +%s) - t0))
want_rc backoff 1
[ "$took" -le 3 ] || fail "backoff: a signal during the retry backoff took ${took}s to stop the run"
has backoff "cancelled by a signal before the next retry"
[ "$(q "$db22" "SELECT success::text || ' ' || failed_line FROM zuperior_schema_history WHERE version = 2")" = "false 1" ] ||
  fail "backoff: the failure is not recorded: $(q "$db22" "SELECT * FROM zuperior_schema_history")"
q "$db22" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'the_blocker'" >/dev/null
wait "$blocker" 2>/dev/null

db22b="$(newdb sighup)"
sleeping_up hup "$db22b" sighup
kill -HUP "$upid"
for _ in $(seq 100); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
wait "$upid" && rc=0 || rc=$?
want_rc hup 1
has hup "canceling statement due to user request"
[ "$(q "$db22b" "SELECT statements_done || ' ' || success FROM zuperior_schema_history WHERE version = 1")" = "1 false" ] ||
  fail "sighup: the history does not say where it stopped: $(q "$db22b" "SELECT * FROM zuperior_schema_history")"

db22c="$(newdb sigpipe)"
mkdir sigpipe
printf -- '-- zuperior:no-transaction\nSELECT pg_sleep(1);\n' >sigpipe/0001_wait.sql
printf 'CREATE TABLE after_pipe (x int);\n' >sigpipe/0002_after.sql
env -i PATH="$PATH" HOME="$work" "$bin" migrate up --config /dev/null --database-url "$db22c" --dir sigpipe 2>pipe.err |
  (read -r _; exit 0)
rc="${PIPESTATUS[0]}"
: >pipe.out
want_rc pipe 1
has pipe "the output was closed"
[ "$(q "$db22c" "SELECT success FROM zuperior_schema_history WHERE version = 1")" = t ] || fail "sigpipe: 0001 not recorded"
[ "$(q "$db22c" "SELECT to_regclass('after_pipe') IS NULL")" = t ] || fail "sigpipe: the next file ran with nobody reading"

db22d="$(newdb killed)"
printf -- '-- zuperior:no-transaction\nSELECT pg_sleep(30);\n' >sighup/0001_sleep.sql
env -i PATH="$PATH" HOME="$work" "$bin" migrate up --config /dev/null --database-url "$db22d" --dir sighup >killed.out 2>killed.err &
upid=$!
for _ in $(seq 200); do running "$db22d" "SELECT pg_sleep(30)" && break; sleep 0.05; done
{ kill -9 "$upid"; wait "$upid"; } 2>/dev/null  # no "Killed" line from the shell
for _ in $(seq 100); do running "$db22d" "SELECT pg_sleep(30)" || break; sleep 0.1; done
running "$db22d" "SELECT pg_sleep(30)" && fail "killed: the server still runs the statement of a client killed 10s ago"

# 23. Failures of the runner's own statements are failed runs (exit 1, the JSON shape), not crashes
# (exit 2, the driver's text, nothing recorded).
# A no-transaction file's own transaction failing inside: rolled back first, then recorded; the
# next run starts again at its BEGIN.
db23="$(newdb owntx)"
mkdir owntx && printf 'CREATE TABLE o (x int);\n' >owntx/0001_o.sql
printf -- '-- zuperior:no-transaction\nBEGIN;\nINSERT INTO o VALUES (1);\nINSERT INTO o_missing VALUES (2);\nCOMMIT;\n' >owntx/0002_tx.sql
mig up23 "$db23" owntx up --format json
want_rc up23 1
python3 -c "import json; j=json.load(open('up23.out')); assert j['ok'] is False and 'failed at statement 3 of 4' in j['error'], j" ||
  fail "owntx: $(head -c 800 up23.out up23.err)"
has up23 "none of its statements stays applied"
has up23 "rolled back"
[ "$(q "$db23" "SELECT statements_done || ' ' || success || ' ' || failed_line FROM zuperior_schema_history WHERE version = 2")" = "0 false 4" ] ||
  fail "owntx: history: $(q "$db23" "SELECT * FROM zuperior_schema_history")"
[ "$(q "$db23" "SELECT count(*) FROM o")" = 0 ] || fail "owntx: the rolled-back insert stayed"
q "$db23" "CREATE TABLE o_missing (x int)" >/dev/null
mig up23b "$db23" owntx up
want_rc up23b 0
[ "$(q "$db23" "SELECT count(*) FROM o")" = 1 ] || fail "owntx: after the fix, o has $(q "$db23" "SELECT count(*) FROM o") rows"
# A BEGIN without its COMMIT is a failure too (its transaction took the history's success with it).
printf -- '-- zuperior:no-transaction\nBEGIN;\nINSERT INTO o VALUES (3);\n' >owntx/0003_open.sql
mig up23c "$db23" owntx up
want_rc up23c 1
has up23c "has no COMMIT"
[ "$(q "$db23" "SELECT count(*) FROM o")" = 1 ] || fail "owntx: an unterminated transaction's insert stayed"
rm owntx/0003_open.sql
# A second BEGIN inside the block (PostgreSQL only warns): the ROLLBACK undoes the block from the
# first BEGIN, so the next run must start there, not at the second (the first insert was lost).
printf -- '-- zuperior:no-transaction\nBEGIN;\nINSERT INTO o VALUES (4);\nBEGIN;\nINSERT INTO o VALUES (5);\nINSERT INTO o_gone VALUES (6);\nCOMMIT;\n' >owntx/0003_nested.sql
mig up23d "$db23" owntx up
want_rc up23d 1
[ "$(q "$db23" "SELECT statements_done FROM zuperior_schema_history WHERE version = 3")" = 0 ] ||
  fail "owntx: a nested BEGIN moved the resume point: $(q "$db23" "SELECT * FROM zuperior_schema_history WHERE version = 3")"
q "$db23" "CREATE TABLE o_gone (x int)" >/dev/null
mig up23e "$db23" owntx up
want_rc up23e 0
[ "$(q "$db23" "SELECT string_agg(x::text, ',' ORDER BY x) FROM o")" = "1,4,5" ] ||
  fail "owntx: after a nested BEGIN's failure and the fix, o has $(q "$db23" "SELECT string_agg(x::text, ',' ORDER BY x) FROM o")"
# A Latin-1 file is refused before anything runs, with where (PostgreSQL refused the statement, and
# the history the failure: it quoted the bytes).
db23l="$(newdb latin)"
mkdir latin
printf "CREATE TABLE lt (x text);\nINSERT INTO lt VALUES ('caf\xe9');\n" >latin/0001_latin.sql
mig latin "$db23l" latin up
want_rc latin 1
has latin "0001_latin.sql:2: not UTF-8 (byte 0xE9 at offset 53)"
[ "$(q "$db23l" "SELECT to_regclass('lt') IS NULL")" = t ] || fail "latin: the file ran"
# ...but one already applied (by an older version, whose comments never reached the server) does
# not stop every later command: status, and up of the next file, work; lint names it.
db23m="$(newdb latin_applied)"
mkdir latin_applied
printf -- "-- Autor: Jos\xe9\nCREATE TABLE la (x int);\n" >latin_applied/0001_old.sql
q "$db23m" "CREATE TABLE la (x int)" >/dev/null
mig latin_bl "$db23m" latin_applied baseline --version 1
want_rc latin_bl 0
printf "CREATE TABLE lb (x int);\n" >latin_applied/0002_new.sql
mig latin_up "$db23m" latin_applied up
want_rc latin_up 0
[ "$(q "$db23m" "SELECT to_regclass('lb') IS NOT NULL")" = t ] || fail "latin_applied: the next file did not run"
mig latin_st "$db23m" latin_applied status
want_rc latin_st 0
mig latin_lint "$db23m" latin_applied lint
has latin_lint "not UTF-8 (byte 0xE9"
# The history's schema not writable, a read-only database.
db23b="$(newdb noperm)"
role="${prefix}noperm"
roles+=("$role")
q "$pg" "CREATE ROLE $role LOGIN" >/dev/null
q "$db23b" "REVOKE CREATE ON SCHEMA public FROM PUBLIC" >/dev/null
mig noperm "${db23b/:\/\/postgres@/://$role@}" owntx up --format json
want_rc noperm 1
python3 -c "import json; j=json.load(open('noperm.out')); assert j['ok'] is False and 'permission denied' in j['error'], j" ||
  fail "noperm: $(head -c 800 noperm.out noperm.err)"
q "$pg" "ALTER DATABASE ${prefix}noperm SET default_transaction_read_only = on" >/dev/null
mig readonly "$db23b" owntx up
want_rc readonly 1
has readonly "read-only transaction"

# 24. An applied file is not checked for its transaction mode: a baselined file with CREATE INDEX
# CONCURRENTLY and no no-transaction header made every `up` fail.
db24="$(newdb baselined_conc)"
q "$db24" "CREATE TABLE bc (x int)" >/dev/null
q "$db24" "CREATE INDEX CONCURRENTLY bc_x_idx ON bc (x)" >/dev/null
mkdir bconc
printf 'CREATE TABLE bc (x int);\nCREATE INDEX CONCURRENTLY bc_x_idx ON bc (x);\n' >bconc/0001_bc.sql
printf 'CREATE TABLE bc2 (x int);\n' >bconc/0002_bc2.sql
mig bl24 "$db24" bconc baseline --version 1
want_rc bl24 0
mig up24 "$db24" bconc up
want_rc up24 0
[ "$(q "$db24" "SELECT to_regclass('bc2') IS NOT NULL")" = t ] || fail "baselined_conc: 0002 not applied"

# 25. A file added below the newest applied version is shown, and applied only when asked for.
db25="$(newdb out_of_order)"
mkdir ooo && printf 'CREATE TABLE o1 (x int);\n' >ooo/0001_a.sql && printf 'CREATE TABLE o3 (x int);\n' >ooo/0003_c.sql
mig up25 "$db25" ooo up
want_rc up25 0
printf 'CREATE TABLE o2 (x int);\n' >ooo/0002_late.sql
mig st25 "$db25" ooo status
want_rc st25 0
has st25 "out of order: version 3 is applied already"
mig plan25 "$db25" ooo plan
want_rc plan25 0
has plan25 "warning: out of order"
mig up25b "$db25" ooo up
want_rc up25b 1
has up25b "--out-of-order"
[ "$(q "$db25" "SELECT to_regclass('o2') IS NULL")" = t ] || fail "out_of_order: applied without --out-of-order"
mig up25c "$db25" ooo up --out-of-order
want_rc up25c 0
[ "$(q "$db25" "SELECT to_regclass('o2') IS NOT NULL")" = t ] || fail "out_of_order: not applied with --out-of-order"

# 26. A long no-transaction file: the checksum of its done part is kept running, not rehashed from
# the first statement after each one (quadratic: 10 s of CPU for 16k statements). A bound on the
# client's own CPU time, far above the linear cost, far below the quadratic one.
db26="$(newdb long_file)"
mkdir longfile
python3 -c "
print('-- zuperior:no-transaction')
for i in range(6000): print(\"SELECT '%s %d';\" % ('x' * 1000, i))" >longfile/0001_long.sql
cpu=$(python3 - "$bin" "$db26" "$work/longfile" <<'PY'
import resource, subprocess, sys
bin, url, d = sys.argv[1:]
r = subprocess.run([bin, "migrate", "up", "--config", "/dev/null", "--database-url", url, "--dir", d, "--quiet"],
                   env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, capture_output=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.returncode} {u.ru_utime:.1f}")
PY
)
[ "${cpu%% *}" = 0 ] || fail "long_file: up exited ${cpu%% *}"
awk -v s="${cpu#* }" 'BEGIN { exit !(s < 5) }' && pass "6000 statements of 1 kB: ${cpu#* }s of client CPU" ||
  fail "long_file: ${cpu#* }s of client CPU for 6000 statements (quadratic checksums?)"

# 27. plan shows the lock of TRUNCATE, LOCK TABLE, CLUSTER, REFRESH, CREATE TRIGGER and VACUUM FULL
# ("none on tables" before), and SET STATISTICS' weak one; lint flags them, and VACUUM in a file that
# runs in one transaction (which up refuses) instead of passing it.
db27="$(newdb locks)"
mkdir locks
printf 'CREATE TABLE t (x int, y int);\nCREATE FUNCTION tf() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n' >locks/0001_t.sql
mig up27 "$db27" locks up
want_rc up27 0
printf -- '-- zuperior:no-transaction\nTRUNCATE t;\nLOCK TABLE t IN SHARE MODE;\nCLUSTER t;\nCREATE TRIGGER t_tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION tf();\nVACUUM FULL t;\nALTER TABLE t ALTER COLUMN y SET STATISTICS 500;\nREFRESH MATERIALIZED VIEW CONCURRENTLY mv;\n' >locks/0002_locks.sql
mig plan27 "$db27" locks plan --format json
want_rc plan27 0
python3 - plan27.out <<'PY' || fail "plan27: locks: $(head -c 1500 plan27.out)"
import json, sys
s = json.load(open(sys.argv[1]))["plan"][0]["statements"]
got = [(x["lock"], x["tables"]) for x in s]
want = [("ACCESS EXCLUSIVE", ["t"]), ("SHARE", ["t"]), ("ACCESS EXCLUSIVE", ["t"]), ("SHARE ROW EXCLUSIVE", ["t"]),
        ("ACCESS EXCLUSIVE", ["t"]), ("SHARE UPDATE EXCLUSIVE", ["t"]), ("EXCLUSIVE", ["mv"])]
assert got == want, got
PY
mig lint27 "$db27" locks lint --format json
want_rc lint27 1
python3 -c "import json; r=sorted({f['rule'] for f in json.load(open('lint27.out'))['findings']}); assert r == ['table-rewrite', 'truncate'], r" ||
  fail "lint27: $(head -c 1500 lint27.out)"
printf 'VACUUM t;\n' >locks/0003_vacuum.sql
mig lint27b "$db27" locks lint locks/0003_vacuum.sql
want_rc lint27b 1
has lint27b "not-in-transaction"
mig up27b "$db27" locks up
want_rc up27b 1
has up27b "VACUUM cannot run inside a transaction"
rm locks/0003_vacuum.sql

# 28. baseline checks a schema-qualified table in its schema: "CREATE TABLE audit.log" was baselined
# over a database that has only public.log. What a later baselined file renames or drops is looked
# for under its new name, or not at all.
db28="$(newdb baseline_schema)"
q "$db28" "CREATE SCHEMA audit; CREATE TABLE public.log (x int)" >/dev/null
mkdir blschema
printf 'CREATE SCHEMA IF NOT EXISTS audit;\nCREATE TABLE audit.log (x int);\n' >blschema/0001_log.sql
mig bl28 "$db28" blschema baseline --version 1
want_rc bl28 1
has bl28 'table "audit"."log" does not exist'
[ "$(q "$db28" "SELECT count(*) FROM zuperior_schema_history")" = 0 ] || fail "baseline_schema: recorded without audit.log"
q "$db28" "CREATE TABLE audit.log (x int)" >/dev/null
mig bl28b "$db28" blschema baseline --version 1
want_rc bl28b 0
db28c="$(newdb baseline_renamed)"
mkdir blrename
printf 'CREATE TABLE old_t (x int, y int);\nCREATE TABLE gone (x int);\nCREATE INDEX gone_x ON gone (x);\n' >blrename/0001_t.sql
printf 'ALTER TABLE old_t RENAME TO new_t;\nALTER TABLE new_t RENAME COLUMN y TO z;\nALTER TABLE new_t ADD COLUMN w int;\nALTER TABLE new_t DROP COLUMN w;\nDROP TABLE gone;\n' >blrename/0002_rename.sql
q "$db28c" "CREATE TABLE new_t (x int, z int)" >/dev/null
mig bl28c "$db28c" blrename baseline --version 2
want_rc bl28c 0
has bl28c "baselined 2 migrations"
# A qualified DROP takes away only its own schema's table: "DROP TABLE audit.log" left the
# unqualified "log" of 0001 checked (the baseline passed over a database without it).
db28d="$(newdb baseline_qualified_drop)"
q "$db28d" "CREATE SCHEMA audit" >/dev/null
mkdir bldrop
printf 'CREATE TABLE log (x int);\nCREATE TABLE audit.log (x int);\n' >bldrop/0001_logs.sql
printf 'DROP TABLE audit.log;\n' >bldrop/0002_drop.sql
mig bl28d "$db28d" bldrop baseline --version 2
want_rc bl28d 1
has bl28d 'table "log" does not exist'

# 29. status while another up runs a file: "running (pid N)" with the pid running its statement,
# exit 0 and "ok": true (it said failed, "interrupted after statement 0 of 1", exit 1).
db29="$(newdb running)"
mkdir runningdir
printf -- '-- zuperior:no-transaction\nSELECT pg_sleep(60);\n' >runningdir/0001_sleep.sql
env -i PATH="$PATH" HOME="$work" "$bin" migrate up --config /dev/null --database-url "$db29" --dir runningdir >run29.out 2>run29.err &
upid=$!
for _ in $(seq 200); do running "$db29" "SELECT pg_sleep(60)" && break; sleep 0.05; done
sleeper=$(q "$db29" "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'")
mig st29 "$db29" runningdir status
want_rc st29 0
has st29 "running (pid $sleeper)"
mig st29j "$db29" runningdir status --format json
want_rc st29j 0
python3 -c "import json; j=json.load(open('st29j.out')); assert j['ok'] is True and j['migrations'][0]['state'] == 'running' and j['running_pid'] == $sleeper, j" ||
  fail "running: $(head -c 1500 st29j.out st29j.err)"
kill -INT "$upid"
wait "$upid"
mig st29b "$db29" runningdir status
want_rc st29b 1  # stopped: failed now, nobody holds the lock
has st29b "failed"

# 30. A failed REINDEX CONCURRENTLY leaves an INVALID "<index>_ccnew": status warns about it, and
# up drops it before running the REINDEX again (it stayed, maintained by every write, and each
# retry added a _ccnew1, …). The failure is real: the index's function raises while the flag is set.
db30="$(newdb reindex)"
mkdir reindex
printf "CREATE FUNCTION boom(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS \$\$ BEGIN IF current_setting('zt.boom', true) = 'on' THEN RAISE EXCEPTION 'boom'; END IF; RETURN \$1; END \$\$;\nCREATE TABLE r (x int);\nINSERT INTO r SELECT generate_series(1, 100);\nCREATE INDEX r_f_idx ON r (boom(x));\n" >reindex/0001_r.sql
printf -- "-- zuperior:no-transaction\nSELECT set_config('zt.boom', 'on', false);\nREINDEX INDEX CONCURRENTLY r_f_idx;\n" >reindex/0002_reindex.sql
mig up30 "$db30" reindex up
want_rc up30 1
has up30 "boom"
[ "$(q "$db30" "SELECT string_agg(c.relname, ',') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid")" = r_f_idx_ccnew ] ||
  fail "reindex: the failed REINDEX left no r_f_idx_ccnew to test with"
mig st30 "$db30" reindex status
has st30 "warning: INVALID index r_f_idx_ccnew on r"
mig plan30 "$db30" reindex plan
has plan30 "INVALID _ccnew copies a failed REINDEX CONCURRENTLY left are dropped"
mig up30b "$db30" reindex up
want_rc up30b 0
has up30b "dropping INVALID index r_f_idx_ccnew"
[ "$(q "$db30" "SELECT count(*) FROM pg_index WHERE NOT indisvalid")" = 0 ] ||
  fail "reindex: INVALID indexes left: $(q "$db30" "SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE NOT indisvalid")"
mig st30b "$db30" reindex status
want_rc st30b 0
grep -q "warning:" st30b.out && fail "reindex: status still warns: $(cat st30b.out)"

# 31. Header directives after a leading block comment are read (the file ran in a transaction and
# CONCURRENTLY was refused), an unknown one is an error, and a file that looks like a migration but
# is skipped ("0002_b.SQL") is named.
db31="$(newdb header)"
mkdir header
printf '/* Copyright 2026 Example\n * licence text\n */\nCREATE TABLE h (x int);\n' >header/0001_h.sql
printf -- '/* licence */\n-- zuperior:no-transaction\nCREATE INDEX CONCURRENTLY h_x_idx ON h (x);\n' >header/0002_idx.sql
printf 'CREATE TABLE h3 (x int);\n' >header/0003_upper.SQL
mig up31 "$db31" header up
want_rc up31 0
grep -q "0003_upper.SQL: looks like a migration but is not one" up31.err || fail "header: no warning about 0003_upper.SQL: $(cat up31.err)"
[ "$(q "$db31" "SELECT mode FROM zuperior_schema_history WHERE version = 2")" = no-transaction ] || fail "header: 0002 not no-transaction"
printf -- '/* licence */\n-- zuperior:bogus\nSELECT 1;\n' >header/0004_bogus.sql
mig up31b "$db31" header up
want_rc up31b 1
has up31b "0004_bogus.sql:2: unknown directive zuperior:bogus"
# The same directive in a file already applied (an older version read no directive after a block
# comment) does not stop status or the next file; lint names it.
q "$db31" "INSERT INTO zuperior_schema_history (version, description, script, checksum, mode, success, statements_done, statements_total)
  SELECT 4, 'bogus', '0004_bogus.sql', '$(sha256sum header/0004_bogus.sql | cut -d' ' -f1)', 'transaction', true, 1, 1" >/dev/null ||
  fail "header: could not mark 0004 applied"
printf 'CREATE TABLE h5 (x int);\n' >header/0005_next.sql
mig up31c "$db31" header up
want_rc up31c 0
mig st31 "$db31" header status
want_rc st31 0
mig lint31 "$db31" header lint
has lint31 "unknown directive zuperior:bogus"

echo "migrate integration: $failures failure(s)"
[ "$failures" = 0 ]
