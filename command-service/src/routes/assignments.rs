//! Conversation assignments: `POST …/conversations/{display_id}/assignments`.
//!
//! With the key `assignee_id`: a positive id must be a member of the account
//! with access to the conversation's inbox (else 422); `null` or `0`
//! unassigns; `team_id` is then ignored. Else with `team_id`: a positive id
//! must be a team of the account (else 422); `null` or `0` clears the team.
//! A team with `allow_auto_assign` gives a conversation without an assignee
//! (or with one from outside the team) to the team member in the inbox with
//! the fewest open assigned conversations, ties by lowest id. With neither
//! key nothing changes and the answer is `null`, as in Chatwoot.
//!
//! Also here: the visibility rule every conversation write applies.

use std::collections::BTreeSet;

use actix_web::{web, HttpRequest, HttpResponse};
use domain::conversation::{Conversation, ConversationCommand, TeamAssignment};
use domain::team::Team;
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use super::teams::user_id;
use crate::auth::{self, AccountCaller, Bots, Principal};
use crate::body::Body;
use crate::error::ApiError;
use crate::write_model::teams as wm;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/accounts/{account_id}/conversations/{display_id}/assignments",
        web::post().to(assign),
    );
}

/// A conversation write by an agent who is not a member of its inbox is
/// Chatwoot's policy 401; administrators work every inbox.
pub(super) async fn require_inbox_access<'e>(
    db: impl sqlx::PgExecutor<'e>,
    caller: &AccountCaller,
    inbox_id: i64,
) -> Result<(), ApiError> {
    let Principal::User(user_id) = caller.principal else {
        return Ok(());
    };
    if caller.role == Some(domain::account::Role::Administrator)
        || wm::has_inbox_access(db, caller.account_id, inbox_id, user_id).await?
    {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "You are not authorized to do this action",
        ))
    }
}

/// What the request asks for.
enum Ask {
    Assignee(Option<i64>),
    Team(Option<i64>),
    Nothing,
}

async fn assign(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let display_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    let b = Body::parse(&body)?.unwrap_key("assignment");
    let ask = if b.has("assignee_id") {
        Ask::Assignee(b.id("assignee_id")?.filter(|id| *id > 0))
    } else if b.has("team_id") {
        Ask::Team(b.id("team_id")?.filter(|id| *id > 0))
    } else {
        Ask::Nothing
    };
    let found = state.conversation(account_id, display_id).await?;
    let (conversation_id, inbox_id) = (found.id, found.inbox_id);
    require_inbox_access(&state.pool, &caller, inbox_id).await?;
    if let Ask::Assignee(Some(assignee)) = ask {
        if !wm::has_inbox_access(&state.pool, account_id, inbox_id, assignee).await? {
            return Err(ApiError::invalid(
                "assignee",
                "Assignee must be a member of the account with access to the inbox",
            ));
        }
    }
    if matches!(ask, Ask::Nothing) {
        return Ok(HttpResponse::Ok().json(Value::Null));
    }
    let ctx = state.context(&req, caller.principal);
    let actor = caller.principal.actor();
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut conversation = uow
                .load::<Conversation>(StreamId::conversation(conversation_id))
                .await?;
            let command = match ask {
                Ask::Assignee(assignee_id) => ConversationCommand::Assign { assignee_id, actor },
                Ask::Team(None) => ConversationCommand::AssignTeam { team: None, actor },
                Ask::Team(Some(team_id)) => {
                    let team = uow.load::<Team>(StreamId::team(team_id)).await?;
                    if team.state.live_ids().map(|(_, a)| a) != Some(account_id) {
                        return Err(ApiError::invalid("team", "Team must exist"));
                    }
                    let auto_assignee =
                        wm::auto_assignee(uow.conn().await?, account_id, team_id, inbox_id).await?;
                    ConversationCommand::AssignTeam {
                        team: Some(TeamAssignment {
                            team_id,
                            members: team.state.members.iter().copied().collect::<BTreeSet<_>>(),
                            allow_auto_assign: team.state.allow_auto_assign,
                            auto_assignee,
                        }),
                        actor,
                    }
                }
                Ask::Nothing => return Ok(conversation.state),
            };
            uow.decide(&mut conversation, &command).await?;
            wm::set_conversation_facts(uow.conn().await?, &conversation.state).await?;
            Ok(conversation.state)
        })
        .await?;
    let conversation = committed.value;
    match ask {
        Ask::Assignee(Some(assignee)) => {
            let render = query_service::render::agent(&state.pool, account_id, assignee);
            state
                .respond(&req, &committed.written, render, json!({"id": assignee}))
                .await
        }
        Ask::Team(Some(team_id)) => {
            let render =
                query_service::render::team(&state.pool, account_id, team_id, user_id(&caller));
            let fallback = json!({"id": team_id, "assignee_id": conversation.assignee_id});
            state
                .respond(&req, &committed.written, render, fallback)
                .await
        }
        _ => {
            let render = async { Ok(Some(Value::Null)) };
            state
                .respond(&req, &committed.written, render, Value::Null)
                .await
        }
    }
}
