//! MCP server (official Rust SDK `rmcp`): the seed's 18 task tools for AI agents.
//!
//! - Streamable HTTP at `/mcp` ([`router`]), stateless: every POST carries its own
//!   `Authorization: Bearer <jwt>`; a request without a valid token is answered `401` before it
//!   reaches MCP, so no tool ever runs for an unauthenticated caller.
//! - stdio ([`serve_stdio`]) for desktop agents, acting for the user whose token was given at
//!   start.
//!
//! Tools take no `user_id`: the user is the token's `sub`, full stop. Each tool converts its
//! arguments with `app::input` and calls the same `Services` method as the REST API, so both
//! interfaces accept the same values, answer with the same error codes and record the same
//! events in the outbox.

mod catalog;
mod direct;
mod errors;
mod labels;
mod reminders;
mod reply;
mod tasks;
mod views;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use catalog::NAMES as TOOL_NAMES;
use errors::ToolError;
use reply::Reply;
use views::{LabelIndex, LabelRef};

use crate::adapters::http::extract::child_traceparent;
use crate::app::{Actor, ServiceError, Services};
use crate::auth::Auth;
use crate::domain::label::LabelKind;
use crate::domain::task::Task;

/// The path the streamable HTTP transport is served at.
pub const PATH: &str = "/mcp";

const INSTRUCTIONS: &str = "Tickler manages the signed-in user's tasks: priorities (low, medium, \
high, urgent), categories, tags, due dates, reminder e-mails and recurrence. Every tool acts for \
the user of the bearer token; there is no user_id argument. Ids come from earlier results \
(add_task, list_tasks, search_tasks, list_categories, list_tags). Dates are ISO 8601; a due date \
given as a date alone means the end of that day. Errors come back as {\"status\":\"error\", \
\"code\", \"message\"} with isError set.";

/// Serves the streamable HTTP transport at `/mcp`, behind bearer-token authentication.
///
/// Stateless (no `Mcp-Session-Id`), JSON responses: any replica can answer any request, and a
/// tool call costs one HTTP round trip. `Host` is not restricted (the SDK's default allows only
/// loopback names): DNS rebinding cannot forge the bearer token every request needs.
pub fn router(services: Services, auth: Arc<Auth>) -> axum::Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts();
    let direct = direct::Direct {
        services: services.clone(),
        max_body: config.max_request_body_bytes,
    };
    let service = StreamableHttpService::new(
        move || Ok(TicklerMcp::over_http(services.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    // The layer added last runs first: the token is checked before the direct path looks at
    // the request.
    axum::Router::new()
        .route_service(PATH, service)
        .route_layer(axum::middleware::from_fn_with_state(
            direct,
            direct::tools_call,
        ))
        .route_layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

/// Serves MCP on stdin/stdout for `actor` until the client closes stdin. Logs must go to stderr.
pub async fn serve_stdio(services: Services, actor: Actor) -> anyhow::Result<()> {
    let running = TicklerMcp::for_actor(services, actor)
        .serve(rmcp::transport::stdio())
        .await?;
    running.waiting().await?;
    Ok(())
}

/// Checks the bearer token and hands the caller (with its W3C trace context) to the tools through
/// the request's extensions. A missing, malformed, forged or expired token gets `401` with
/// `WWW-Authenticate: Bearer` and a JSON-RPC error body the MCP clients surface as is.
async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.verify_header(header) {
        Ok(mut actor) => {
            // As the REST API does: the caller's trace with a span for this request, or a new
            // trace, so the events a tool call causes are traceable like REST's.
            let incoming = req
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok());
            actor.traceparent = Some(child_traceparent(incoming));
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        Err(e) => {
            let body = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {
                    "code": -32001,
                    "message": format!("Unauthorized: {e}"),
                    "data": {"code": "UNAUTHORIZED"},
                },
            });
            let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickler\""),
            );
            resp
        }
    }
}

/// The MCP server handler: the tools over `Services`, for the caller of each request (HTTP) or
/// for one fixed user (stdio, tests).
#[derive(Clone)]
pub struct TicklerMcp {
    services: Services,
    actor: Option<Arc<Actor>>,
}

impl TicklerMcp {
    /// Acts for whoever the HTTP middleware authenticated on each request.
    fn over_http(services: Services) -> Self {
        Self {
            services,
            actor: None,
        }
    }

    /// Acts for `actor` on every request (stdio; tests).
    pub fn for_actor(services: Services, actor: Actor) -> Self {
        Self {
            services,
            actor: Some(Arc::new(actor)),
        }
    }

    /// The tools, as `tools/list` returns them.
    pub fn tools() -> &'static [Tool] {
        &catalog::TOOLS
    }

    /// Calls a tool for `actor`; `None` when there is no such tool. What `tools/call` runs.
    pub async fn call(
        services: &Services,
        actor: &Actor,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Option<CallToolResult> {
        run_tool(services, actor, name, arguments)
            .await
            .map(Reply::into_result)
    }

    fn actor(&self, ctx: &RequestContext<RoleServer>) -> Option<Actor> {
        if let Some(a) = &self.actor {
            return Some((**a).clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Actor>())
            .cloned()
    }
}

impl ServerHandler for TicklerMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("tickler", env!("CARGO_PKG_VERSION"))
                    .with_title("Tickler tasks and reminders"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(catalog::TOOLS.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        catalog::find(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Unreachable over HTTP (the middleware answers 401 first); kept as a second lock.
        let actor = self.actor(&context).ok_or_else(|| {
            ErrorData::new(
                rmcp::model::ErrorCode(-32001),
                "Unauthorized: no authenticated user",
                None,
            )
        })?;
        let name = request.name.as_ref();
        let started = std::time::Instant::now();
        match run_tool(&self.services, &actor, name, request.arguments).await {
            Some(reply) => {
                log_call(name, &actor, reply.is_error(), started);
                Ok(reply.into_result().into())
            }
            None => Err(ErrorData::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            )),
        }
    }
}

/// Who is calling, and the use cases to call.
pub(crate) struct Call<'a> {
    pub services: &'a Services,
    pub actor: &'a Actor,
}

impl Call<'_> {
    /// The names of the categories and tags `tasks` refer to (one lookup per kind at most).
    pub async fn labels_of(&self, tasks: &[&Task]) -> Result<LabelIndex, ToolError> {
        let categories: BTreeSet<i64> = tasks
            .iter()
            .filter_map(|t| t.category_id.map(|c| c.0))
            .collect();
        let tags: BTreeSet<i64> = tasks
            .iter()
            .flat_map(|t| t.tag_ids.iter().map(|t| t.0))
            .collect();
        Ok(LabelIndex {
            categories: self.labels(LabelKind::Category, &categories).await?,
            tags: self.labels(LabelKind::Tag, &tags).await?,
        })
    }

    async fn labels(
        &self,
        kind: LabelKind,
        ids: &BTreeSet<i64>,
    ) -> Result<std::collections::HashMap<i64, LabelRef>, ToolError> {
        let user = &self.actor.user_id;
        let fail = |e: ServiceError| ToolError::from_service(&e, "load labels");
        let found = match ids.len() {
            0 => Vec::new(),
            1 => {
                let id = *ids.first().expect("one id");
                match self.services.get_label(user, kind, id).await {
                    Ok(l) => vec![l],
                    // Deleted meanwhile: the task shows without it.
                    Err(ServiceError::LabelNotFound(..)) => Vec::new(),
                    Err(e) => return Err(fail(e)),
                }
            }
            _ => self.services.list_labels(user, kind).await.map_err(fail)?,
        };
        Ok(found
            .iter()
            .filter(|l| ids.contains(&l.id))
            .map(|l| (l.id, LabelRef::from(l)))
            .collect())
    }

    /// CATEGORY_NOT_FOUND unless the category is the caller's.
    pub async fn require_category(&self, id: i64) -> Result<(), ToolError> {
        self.require(LabelKind::Category, id).await
    }

    /// TAG_NOT_FOUND unless the tag is the caller's.
    pub async fn require_tag(&self, id: i64) -> Result<(), ToolError> {
        self.require(LabelKind::Tag, id).await
    }

    async fn require(&self, kind: LabelKind, id: i64) -> Result<(), ToolError> {
        self.services
            .get_label(&self.actor.user_id, kind, id)
            .await
            .map(|_| ())
            .map_err(|e| ToolError::from_service(&e, "load labels"))
    }
}

/// Runs tool `name` for `actor`; `None` when there is no such tool.
pub(crate) async fn run_tool(
    services: &Services,
    actor: &Actor,
    name: &str,
    arguments: Option<JsonObject>,
) -> Option<Reply> {
    let call = Call { services, actor };
    dispatch(&call, name, Value::Object(arguments.unwrap_or_default())).await
}

/// One debug line per tool call, whichever path served it.
pub(crate) fn log_call(tool: &str, actor: &Actor, is_error: bool, started: std::time::Instant) {
    tracing::debug!(
        tool,
        user = %actor.user_id,
        error = is_error,
        micros = started.elapsed().as_micros() as u64,
        "MCP tool call"
    );
}

fn parse<P: DeserializeOwned>(tool: &str, args: Value) -> Result<P, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::bad_arguments(tool, &e))
}

async fn dispatch(c: &Call<'_>, name: &str, args: Value) -> Option<Reply> {
    use LabelKind::{Category, Tag};

    /// Parses the arguments for `$handler` and turns its error into the error object.
    macro_rules! run {
        (|$p:ident: $ty:ty| $body:expr) => {
            match parse::<$ty>(name, args) {
                Ok($p) => $body.await.unwrap_or_else(|e| Reply::error(&e)),
                Err(e) => Reply::error(&e),
            }
        };
    }

    Some(match name {
        "add_task" => run!(|p: tasks::AddTaskParams| tasks::add_task(c, p)),
        "list_tasks" => run!(|p: tasks::ListTasksParams| tasks::list_tasks(c, p)),
        "complete_task" => run!(|p: tasks::TaskIdParams| tasks::complete_task(c, p)),
        "get_task" => run!(|p: tasks::TaskIdParams| tasks::get_task(c, p)),
        "delete_task" => run!(|p: tasks::TaskIdParams| tasks::delete_task(c, p)),
        "update_task" => run!(|p: tasks::UpdateTaskParams| tasks::update_task(c, p)),
        "search_tasks" => run!(|p: tasks::SearchTasksParams| tasks::search_tasks(c, p)),
        "create_category" => {
            run!(|p: labels::CreateLabelParams| labels::create(c, Category, p))
        }
        "list_categories" => run!(|p: labels::NoParams| labels::list(c, Category, p)),
        "update_category" => run!(|p: labels::UpdateCategoryParams| labels::update(
            c,
            Category,
            p.category_id,
            p.name,
            p.color
        )),
        "delete_category" => {
            run!(|p: labels::CategoryIdParams| labels::delete(c, Category, p.category_id))
        }
        "create_tag" => run!(|p: labels::CreateLabelParams| labels::create(c, Tag, p)),
        "list_tags" => run!(|p: labels::NoParams| labels::list(c, Tag, p)),
        "update_tag" => {
            run!(|p: labels::UpdateTagParams| labels::update(c, Tag, p.tag_id, p.name, p.color))
        }
        "delete_tag" => run!(|p: labels::TagIdParams| labels::delete(c, Tag, p.tag_id)),
        "add_tag_to_task" => run!(|p: labels::TaskTagParams| labels::add_tag_to_task(c, p)),
        "remove_tag_from_task" => {
            run!(|p: labels::TaskTagParams| labels::remove_tag_from_task(c, p))
        }
        "set_reminder" => match parse::<reminders::SetReminderParams>(name, args.clone()) {
            Ok(p) => reminders::set_reminder(c, p).await,
            Err(e) => reminders::bad_arguments(&e, &args),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::adapters::memory::{MemoryStateStore, MemoryStore, SystemClock};
    use crate::domain::UserId;

    fn services() -> Services {
        let store = MemoryStore::new();
        let clock = Arc::new(SystemClock);
        Services {
            tasks: Arc::new(store.clone()),
            labels: Arc::new(store.clone()),
            users: Arc::new(store),
            state: Arc::new(MemoryStateStore::new(clock.clone())),
            clock,
        }
    }

    /// What `serve_stdio` does, on an in-memory pipe instead of stdin/stdout: newline-delimited
    /// JSON-RPC, the user fixed at start.
    #[tokio::test]
    async fn serves_json_rpc_lines_for_the_fixed_user() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let actor = Actor {
            user_id: UserId::parse("desk").unwrap(),
            email: None,
            name: None,
            traceparent: None,
        };
        let handler = TicklerMcp::for_actor(services(), actor);
        tokio::spawn(async move {
            let running = handler.serve(tokio::io::split(server)).await.unwrap();
            running.waiting().await
        });
        let (read, mut write) = tokio::io::split(client);
        let mut lines = BufReader::new(read).lines();
        let mut send = async |v: Value| {
            write.write_all(format!("{v}\n").as_bytes()).await.unwrap();
        };
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}}),
        )
        .await;
        let init: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(init["result"]["serverInfo"]["name"], "tickler");
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        send(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "add_task", "arguments": {"title": "from stdin"}}}),
        )
        .await;
        let r: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(r["id"], 2);
        assert_eq!(r["result"]["structuredContent"]["status"], "created", "{r}");
        send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await;
        let r: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(r["result"]["tools"].as_array().unwrap().len(), 18);
    }
}
