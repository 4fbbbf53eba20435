-- Agent-bot deliveries (docs/webhooks.md, "Agent bots"): an agent bot with an
-- outgoing_url is another subscriber of the delivery process. Its deliveries
-- share webhooks.deliveries (same retries, same log) and carry agent_bot_id
-- instead of webhook_id: exactly one of the two is set.

alter table webhooks.deliveries alter column webhook_id drop not null;
alter table webhooks.deliveries add column agent_bot_id bigint;
alter table webhooks.deliveries add constraint deliveries_one_subscriber
    check ((webhook_id is null) <> (agent_bot_id is null));
create index deliveries_bot_lane_idx on webhooks.deliveries (agent_bot_id, lane, position, ordinal)
    where status = 'pending' and agent_bot_id is not null;
create index deliveries_bot_idx on webhooks.deliveries (agent_bot_id, created_at desc)
    where agent_bot_id is not null;
