//! Conversation labels: `POST .../conversations/{display_id}/labels`
//! overwrites the whole set (free-text tags, as Chatwoot's).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::conversation::{Conversation, ConversationCommand};
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, Bots};
use crate::body::Body;
use crate::error::ApiError;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/accounts/{account_id}/conversations/{display_id}/labels",
        web::post().to(replace),
    );
}

/// `labels`: an array of strings (numbers are taken as their text); absent
/// or null clears the set.
fn labels(b: &Body) -> Result<Vec<String>, ApiError> {
    match b.0.get("labels") {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(ApiError::Unprocessable(
                    "labels must be an array of strings".into(),
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::Unprocessable(
            "labels must be an array of strings".into(),
        )),
    }
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let display_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    let wanted = labels(&Body::parse(&body)?)?;
    let conversation_id = state.conversation(account_id, display_id).await?.id;
    let ctx = state.context(&req, caller.principal);
    let actor = caller.principal.actor();
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut conversation = uow
                .load::<Conversation>(StreamId::conversation(conversation_id))
                .await?;
            let command = ConversationCommand::ReplaceLabels {
                labels: wanted.clone(),
                actor,
            };
            uow.decide(&mut conversation, &command).await?;
            Ok(conversation.state.labels)
        })
        .await?;
    // Fully determined by the write, like toggle_status's answer.
    let body = json!({ "payload": committed.value });
    let render = async { Ok(Some(body.clone())) };
    state
        .respond(&req, &committed.written, render, body.clone())
        .await
}
