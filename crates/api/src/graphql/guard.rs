//! Limits on what one operation may cost, checked before anything runs, and a code on every
//! error.
//!
//! An async-graphql extension, so the same checks hold over HTTP and WebSocket: before parsing
//! and while parsing, the document checks of [`crate::graphql::document`], depth
//! (`QUERY_TOO_DEEP`) among them, measured there because introspection's `ofType` chains do not
//! count; after validation the complexity, one point per selected field
//! (`QUERY_TOO_COMPLEX`), from the number async-graphql's validation computes. Validation
//! errors get `GRAPHQL_VALIDATION_FAILED`, and any error still without a code on its way out
//! gets it too (resolvers always set one), so a client can always branch on `extensions.code`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use crate::graphql::config::GraphqlConfig;
use crate::graphql::document;
use crate::graphql::error::GraphqlCode;

/// The limits, as a schema extension.
pub struct Guard {
    config: GraphqlConfig,
}

impl Guard {
    /// Enforces `config`'s limits.
    pub fn new(config: GraphqlConfig) -> Self {
        Self { config }
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            config: self.config,
        })
    }
}

struct GuardExtension {
    config: GraphqlConfig,
}

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(ensure_code);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                response.errors.iter_mut().for_each(ensure_code);
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        document::inspect(&mut request, &self.config).map_err(|e| e.into_server_error())?;
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|error| {
            // Past `prepare_request` the document is parsed; what is left to fail is
            // async-graphql's own nesting limit (through fragments), before the depth check
            // below could run.
            let code = if error.message.contains("recursion") {
                GraphqlCode::QueryTooDeep
            } else {
                GraphqlCode::ParseFailed
            };
            coded(error, code.as_str())
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| coded(e, GraphqlCode::ValidationFailed.as_str()))
                .collect::<Vec<_>>()
        })?;
        // The depth was measured before parsing (`document::inspect`): async-graphql's
        // `result.depth` counts introspection's `ofType` chains, which cost nothing.
        if result.complexity > self.config.max_complexity {
            let message = format!(
                "the query selects {} fields; at most {} are accepted",
                result.complexity, self.config.max_complexity
            );
            return Err(vec![coded(
                ServerError::new(message, None),
                GraphqlCode::QueryTooComplex.as_str(),
            )]);
        }
        Ok(result)
    }
}

/// `error` with `code`, unless it has one already.
fn coded(mut error: ServerError, code: &str) -> ServerError {
    give_code(&mut error, code);
    error
}

fn ensure_code(error: &mut ServerError) {
    give_code(error, GraphqlCode::ValidationFailed.as_str());
}

fn give_code(error: &mut ServerError, code: &str) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", Value::from(code));
    }
}
