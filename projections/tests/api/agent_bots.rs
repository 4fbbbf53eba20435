//! Agent bots: applying is idempotent, a bot's token follows the bot, and a
//! connection applied after its account's deletion does not come back.

use domain::agent_bot::BotType;
use domain::Event;
use projections::apply::Applied;

use crate::helpers::*;

fn bot_created(id: i64, account_id: Option<i64>) -> Event {
    Event::AgentBotCreated {
        agent_bot_id: id,
        account_id,
        name: format!("bot{id}"),
        description: None,
        outgoing_url: None,
        bot_type: BotType::Webhook,
        bot_config: domain::Attributes::new(),
        access_token_hash: format!("hash{id}"),
    }
}

fn set(inbox_id: i64, bot: Option<i64>) -> Event {
    Event::InboxAgentBotSet {
        inbox_id,
        account_id: 1,
        agent_bot_id: bot,
    }
}

#[tokio::test]
async fn bots_apply_once_and_leave_with_their_account_and_tokens() {
    let env = TestEnv::new().await;
    let mut feed = Envelopes::default();
    let account = feed.next(&domain::StreamId::account(1), &account_created(1));
    let inbox = feed.next(&domain::StreamId::inbox(2), &inbox_created(2, 1));
    let own = feed.next(&domain::StreamId::agent_bot(5), &bot_created(5, Some(1)));
    let global = feed.next(&domain::StreamId::agent_bot(6), &bot_created(6, None));
    let connect = feed.next(&domain::StreamId::inbox(2), &set(2, Some(5)));
    for e in [&account, &inbox, &own, &global, &connect] {
        assert_eq!(apply_one(&env.pool, e).await.unwrap(), Applied::Applied);
    }
    assert_eq!(
        apply_one(&env.pool, &connect).await.unwrap(),
        Applied::Duplicate
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bots")
            .await,
        2
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bot_inboxes where agent_bot_id = 5")
            .await,
        1
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.access_tokens where owner_type = 'agent_bot'")
            .await,
        2
    );

    let deleted = feed.next(
        &domain::StreamId::account(1),
        &Event::AccountDeleted { account_id: 1 },
    );
    apply_one(&env.pool, &deleted).await.unwrap();
    // Only the global bot and its token remain.
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bots where id = 6")
            .await,
        1
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bots")
            .await,
        1
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.access_tokens where owner_type = 'agent_bot'")
            .await,
        1
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bot_inboxes")
            .await,
        0
    );
    // A late connection of the deleted account's inbox is not written.
    let late = feed.next(&domain::StreamId::inbox(2), &set(2, Some(6)));
    apply_one(&env.pool, &late).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bot_inboxes")
            .await,
        0
    );

    let gone = feed.next(
        &domain::StreamId::agent_bot(6),
        &Event::AgentBotDeleted {
            agent_bot_id: 6,
            account_id: None,
        },
    );
    apply_one(&env.pool, &gone).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.agent_bots")
            .await,
        0
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.access_tokens where owner_type = 'agent_bot'")
            .await,
        0
    );
    env.cleanup().await;
}
