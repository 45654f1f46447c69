-- zuperior:no-transaction
-- The seed's @@index list for "MT5Account". accountId is left out: the unique index
-- "MT5Account_accountId_key" of 0001 already provides it (lint reports a duplicate as redundant).
-- Built CONCURRENTLY, outside a transaction, so a live "MT5Account" keeps taking writes; Prisma's
-- index names ("MT5Account_<column>_idx"). If a build fails, the INVALID index it leaves is dropped
-- and rebuilt by the next `zuperior migrate up`.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "MT5Account_userId_idx" ON "MT5Account" ("userId");
