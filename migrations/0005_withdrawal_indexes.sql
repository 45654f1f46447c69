-- zuperior:no-transaction
-- The seed's @@index list for "Withdrawal".
-- Built CONCURRENTLY, outside a transaction, so a live "Withdrawal" keeps taking writes; Prisma's
-- index names ("Withdrawal_<column>_idx"). If a build fails, the INVALID index it leaves is dropped
-- and rebuilt by the next `zuperior migrate up`.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "Withdrawal_userId_idx" ON "Withdrawal" ("userId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "Withdrawal_status_idx" ON "Withdrawal" ("status");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "Withdrawal_createdAt_idx" ON "Withdrawal" ("createdAt");
