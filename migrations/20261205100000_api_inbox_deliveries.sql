-- API-inbox deliveries (docs/webhooks.md, "API inboxes"): an API channel's
-- webhook_url gets every conversation and message event of its inbox, as
-- Chatwoot's WebhookListener sends them. A third kind of subscriber in
-- webhooks.deliveries: exactly one of webhook_id, agent_bot_id and
-- api_inbox_id is set.

alter table webhooks.deliveries add column api_inbox_id bigint;
alter table webhooks.deliveries drop constraint deliveries_one_subscriber;
alter table webhooks.deliveries add constraint deliveries_one_subscriber
    check (num_nonnulls(webhook_id, agent_bot_id, api_inbox_id) = 1);
create index deliveries_api_inbox_lane_idx on webhooks.deliveries (api_inbox_id, lane, position, ordinal)
    where status = 'pending' and api_inbox_id is not null;
create index deliveries_api_inbox_idx on webhooks.deliveries (api_inbox_id, created_at desc)
    where api_inbox_id is not null;
