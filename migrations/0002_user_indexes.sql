-- zuperior:no-transaction
-- The seed's @@index list for "User". email and clientId are left out on purpose: the unique
-- indexes "User_email_key" and "User_clientId_key" of 0001 already serve those lookups, and a
-- second B-tree on the same column only costs writes (`zuperior migrate lint` reports such an
-- index as redundant).
-- Built CONCURRENTLY, outside a transaction, so a live "User" keeps taking writes; Prisma's
-- index names ("User_<column>_idx"). If a build fails, the INVALID index it leaves is dropped
-- and rebuilt by the next `zuperior migrate up`.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "User_status_idx" ON "User" ("status");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "User_createdAt_idx" ON "User" ("createdAt");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "User_lastLoginAt_idx" ON "User" ("lastLoginAt");
