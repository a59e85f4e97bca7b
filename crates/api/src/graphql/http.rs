//! `POST /graphql` and `GET /graphql`.
//!
//! The caller is known as in REST: a bearer token, or nobody; a token that is present but
//! wrong refuses the whole request (401), as on REST's guest routes. Bodies are
//! `application/json` in UTF-8, as on REST (415 otherwise: [`crate::extract::json_content_type`]),
//! `{"query", "operationName", "variables"}` of at most REST's 64 KiB, one operation per
//! request (no batches, which would multiply every limit). `GET` carries the same members in
//! the query string and runs queries only (405 for a mutation, per GraphQL over HTTP).
//!
//! A request refused before it runs answers with a 4xx and a GraphQL-shaped body
//! (`{"errors": [{"message", "extensions": {"code"}}]}`, codes as REST's). A request that runs
//! answers 200 with `data` and/or `errors`, as `application/json`.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::Caller;
use crate::extract::{JsonBody, MAX_BODY_BYTES};
use crate::flags::{Feature, Subject};
use crate::graphql::CartSchema;
use crate::graphql::context::Traceparent;
use crate::graphql::document;
use crate::graphql::error::gql_error;
use crate::problem::{ApiError, Code};
use crate::state::AppState;

/// `POST /graphql`: any operation but subscriptions.
pub async fn post(
    State(state): State<AppState>,
    Extension(schema): Extension<CartSchema>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: Result<JsonBody<serde_json::Value>, ApiError>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return refused(error),
    };
    if let Err(error) = state
        .flags
        .require(Feature::Graphql, &Subject::caller(&caller))
    {
        return refused(error);
    }
    let body = match body {
        Ok(body) => body.value,
        Err(error) => return refused(error),
    };
    if body.is_array() {
        return refused(ApiError::new(
            Code::ValidationError,
            "batched operations are not accepted: send one operation per request",
        ));
    }
    let request: async_graphql::Request = match serde_json::from_value(body) {
        Ok(request) => request,
        Err(e) => {
            return refused(ApiError::new(
                Code::ValidationError,
                format!("the body must be {{\"query\", \"operationName\"?, \"variables\"?}}: {e}"),
            ));
        }
    };
    if let Err(error) = check_document(&request, &state) {
        return refused(error);
    }
    execute(&schema, request, caller, &headers).await
}

/// `GET /graphql?query=…&operationName=…&variables=…`: queries only.
pub async fn get(
    State(state): State<AppState>,
    Extension(schema): Extension<CartSchema>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return refused(error),
    };
    if let Err(error) = state
        .flags
        .require(Feature::Graphql, &Subject::caller(&caller))
    {
        return refused(error);
    }
    let query = query.unwrap_or_default();
    let mut request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(e) => {
            return refused(ApiError::new(
                Code::ValidationError,
                format!("GET /graphql takes ?query=…&operationName=…&variables=…: {e}"),
            ));
        }
    };
    if let Err(error) = check_document(&request, &state) {
        return refused(error);
    }
    // A document refused by the checks is left to execution, which says why.
    let kind = match document::inspect(&mut request, &state.graphql) {
        Ok(()) => {
            let name = request.operation_name.clone();
            request
                .parsed_query()
                .ok()
                .and_then(|document| operation_kind(&document.operations, name.as_deref()))
        }
        Err(_) => None,
    };
    if kind.is_some_and(|kind| kind != OperationType::Query) {
        let mut response = refused(ApiError::new(
            Code::MethodNotAllowed,
            "GET runs queries only; send mutations with POST and subscribe over /graphql/ws",
        ));
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }
    execute(&schema, request, caller, &headers).await
}

async fn execute(
    schema: &CartSchema,
    request: async_graphql::Request,
    caller: Caller,
    headers: &HeaderMap,
) -> Response {
    let mut request = request.data(caller);
    if let Some(value) = headers.get("traceparent") {
        request = request.data(Traceparent(value.clone()));
    }
    json(StatusCode::OK, &schema.execute(request).await)
}

/// The type of the operation a request would run, if the document names it unambiguously.
fn operation_kind(operations: &DocumentOperations, name: Option<&str>) -> Option<OperationType> {
    match (operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A request must carry a document, of at most `max_document_bytes`.
fn check_document(request: &async_graphql::Request, state: &AppState) -> Result<(), ApiError> {
    if request.query.trim().is_empty() {
        return Err(ApiError::new(
            Code::ValidationError,
            "a GraphQL request needs a `query` document",
        ));
    }
    document::check_size(&request.query, &state.graphql).map_err(|error| {
        ApiError::new(Code::PayloadTooLarge, error.message()).with_details(serde_json::json!({
            "max_document_bytes": state.graphql.max_document_bytes,
            "max_body_bytes": MAX_BODY_BYTES,
        }))
    })
}

/// A request refused before it ran: the REST status, a GraphQL-shaped body.
fn refused(error: ApiError) -> Response {
    let code = error.code();
    let body = serde_json::json!({ "errors": [gql_error(error)] });
    let mut response = json(code.status(), &body);
    if code == Code::Unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cartd\""),
        );
    }
    response
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}
