-- zuperior:no-transaction
-- The seed's @@index list for "ActivityLog".
-- Built CONCURRENTLY, outside a transaction, so a live "ActivityLog" keeps taking writes; Prisma's
-- index names ("ActivityLog_<column>_idx"). If a build fails, the INVALID index it leaves is dropped
-- and rebuilt by the next `zuperior migrate up`.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ActivityLog_adminId_idx" ON "ActivityLog" ("adminId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ActivityLog_userId_idx" ON "ActivityLog" ("userId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ActivityLog_action_idx" ON "ActivityLog" ("action");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ActivityLog_entity_idx" ON "ActivityLog" ("entity");

CREATE INDEX CONCURRENTLY IF NOT EXISTS "ActivityLog_createdAt_idx" ON "ActivityLog" ("createdAt");
