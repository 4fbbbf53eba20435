-- ---- attachments and avatars ----
-- Attachment ids, drawn in the command's transaction.
create sequence write_model.attachment_ids;

-- Blobs to delete from the blob store once `due_at` has passed (the blob
-- sweeper of the command service does it; deleting is idempotent).
--
-- * A command that uploads blobs first records them here, due in an hour,
--   in a transaction of its own; the command's transaction removes the rows
--   of the blobs its events reference. A command that fails, or a process
--   that dies between upload and commit, leaves them here: they are swept.
-- * A command whose events drop blobs (message deleted, avatar replaced or
--   removed) records them due now in its own transaction: the bytes go only
--   after the event is committed, and surely go even if the process dies
--   right after the commit.
create table write_model.blob_garbage (
    blob_key    text primary key,
    due_at      timestamptz not null
);
create index blob_garbage_due_idx on write_model.blob_garbage (due_at);
