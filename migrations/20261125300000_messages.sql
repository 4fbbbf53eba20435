-- Messages: global integer ids, drawn in the command's transaction. Each
-- message is its own stream (message:<id>); no other write-side table is
-- needed (the message's conversation is in its stream).
create sequence write_model.message_ids;
