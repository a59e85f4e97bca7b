//! What the GraphQL endpoint allows: limits that keep any one operation cheap, and whether the
//! schema can be introspected.

/// The largest `max_depth` that has an effect: selections nested deeper are refused while the
/// document is parsed, whatever the setting.
pub const MAX_DEPTH_CEILING: usize = 32;

/// GraphQL settings, part of [`crate::AppState`]. The defaults suit a public endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlConfig {
    /// Whether `__schema` / `__type` are answered. The schema is public anyway
    /// (`docs/schema.graphql`); an operator may still turn it off. Off also drops the "did you
    /// mean" suggestions from validation errors.
    pub introspection: bool,
    /// The deepest selection nesting accepted (`QUERY_TOO_DEEP` beyond), at most
    /// [`MAX_DEPTH_CEILING`]. The schema's own types need at most 5, the standard
    /// introspection query 6: inside `__schema` / `__type`, `ofType` (one wrapped type, no
    /// fan-out) adds no depth, so tools can unwrap types however deep they ask.
    pub max_depth: usize,
    /// The highest complexity accepted, one point per selected field including aliases
    /// (`QUERY_TOO_COMPLEX` beyond).
    pub max_complexity: usize,
    /// The longest query document accepted, in bytes (`PAYLOAD_TOO_LARGE` beyond). Request
    /// bodies are further limited to REST's 64 KiB.
    pub max_document_bytes: usize,
    /// How many subscriptions one WebSocket connection may hold at once
    /// (`TOO_MANY_SUBSCRIPTIONS` beyond).
    pub max_subscriptions_per_connection: usize,
}

impl Default for GraphqlConfig {
    /// Introspection on, depth 10, complexity 500, 16 KiB documents, 16 subscriptions per
    /// connection.
    fn default() -> Self {
        Self {
            introspection: true,
            max_depth: 10,
            max_complexity: 500,
            max_document_bytes: 16 * 1024,
            max_subscriptions_per_connection: 16,
        }
    }
}
