-- zuperior:no-transaction
-- The seed's @@index list for "ManualDeposit".
-- Built CONCURRENTLY, outside a transaction, so a live "ManualDeposit" keeps taking writes; Prisma's
-- index names ("ManualDeposit_<column>_idx"). If a build fails, the INVALID index it leaves is dropped
-- and rebuilt by the next `zuperior migrate up`.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ManualDeposit_userId_idx" ON "ManualDeposit" ("userId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ManualDeposit_mt5AccountId_idx" ON "ManualDeposit" ("mt5AccountId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ManualDeposit_status_idx" ON "ManualDeposit" ("status");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ManualDeposit_createdAt_idx" ON "ManualDeposit" ("createdAt");
