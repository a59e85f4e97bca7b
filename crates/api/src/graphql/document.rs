//! A query document is looked at before anything costly happens to it.
//!
//! async-graphql's parser recurses once per bracket, so a small document of a few thousand
//! nested brackets would exhaust a thread's stack; and its checks after parsing walk every
//! fragment spread without memory, so fragments that each spread the next one twice cost `2^n`.
//! Hence, in order, each step bounded by the one before:
//!
//! 1. the size (`PAYLOAD_TOO_LARGE` past `GraphqlConfig::max_document_bytes`);
//! 2. the bracket nesting, by a lexical scan (`QUERY_TOO_DEEP` past [`MAX_NESTING`]);
//! 3. the parse (`GRAPHQL_PARSE_FAILED`);
//! 4. each operation's selection with its fragments expanded, each fragment measured once:
//!    the number of fields (`QUERY_TOO_COMPLEX` past `GraphqlConfig::max_complexity`, the same
//!    count async-graphql's complexity makes), the depth (`QUERY_TOO_DEEP` past
//!    `GraphqlConfig::max_depth`; see [`depth`](#depth)), selections nested through fragments
//!    deeper than [`MAX_NESTING`] (`QUERY_TOO_DEEP`), and fragment cycles
//!    (`GRAPHQL_VALIDATION_FAILED`).
//!
//! # Depth
//!
//! One level per nested field, as async-graphql counts, except `ofType` inside `__schema` or
//! `__type`. `__Type.ofType` is the one type a list or non-null type wraps: a single object,
//! never a list, so nesting it costs one object per level and multiplies nothing. Tools unwrap
//! a type such as `[[Int!]!]!` with a chain of them: graphql-js's standard introspection query
//! (GraphiQL, Apollo, schemathesis) nests nine, which no depth limit meant for ordinary queries
//! lets through. The chain stays bounded by async-graphql's nesting limit
//! ([`crate::graphql::MAX_DEPTH_CEILING`]); every other introspection field
//! counts, so `fields { type { fields { type … } } }`, which fans out with the schema's size, is
//! held to `max_depth` like any query.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Request, ServerError, Value};

use crate::graphql::config::GraphqlConfig;
use crate::graphql::error::GraphqlCode;
use crate::problem::Code;

/// The deepest nesting of brackets (`{`, `[`, `(`) and of fragment spreads accepted: far
/// above what the depth limit lets through, far below what would exhaust a stack.
pub const MAX_NESTING: usize = 64;

/// Why a document is refused before it runs.
#[derive(Debug, Clone)]
pub enum DocumentError {
    /// Longer than `max_document_bytes`.
    TooLarge {
        /// Its length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Brackets or fragment spreads nested deeper than [`MAX_NESTING`].
    NestedTooDeep,
    /// Not GraphQL.
    Unparsable(ServerError),
    /// A fragment spreads itself, directly or not.
    FragmentCycle(String),
    /// An operation selects more fields than `max_complexity`.
    TooComplex {
        /// The limit.
        max: usize,
    },
    /// An operation nests its fields deeper than `max_depth`.
    TooDeep {
        /// Its depth.
        depth: usize,
        /// The limit.
        max: usize,
    },
}

impl DocumentError {
    /// The code sent in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => Code::PayloadTooLarge.as_str(),
            Self::NestedTooDeep => GraphqlCode::QueryTooDeep.as_str(),
            Self::Unparsable(_) => GraphqlCode::ParseFailed.as_str(),
            Self::FragmentCycle(_) => GraphqlCode::ValidationFailed.as_str(),
            Self::TooComplex { .. } => GraphqlCode::QueryTooComplex.as_str(),
            Self::TooDeep { .. } => GraphqlCode::QueryTooDeep.as_str(),
        }
    }

    /// What went wrong, for people.
    pub fn message(&self) -> String {
        match self {
            Self::TooLarge { bytes, max } => {
                format!("the query document is {bytes} bytes; at most {max} are accepted")
            }
            Self::NestedTooDeep => {
                format!("the query document nests deeper than {MAX_NESTING} levels")
            }
            Self::Unparsable(error) => error.message.clone(),
            Self::FragmentCycle(name) => format!("fragment `{name}` spreads itself"),
            Self::TooComplex { max } => {
                format!("the query selects more than {max} fields (fragments expanded)")
            }
            Self::TooDeep { depth, max } => {
                format!("the query is nested {depth} deep; at most {max} is accepted")
            }
        }
    }

    /// As an error in a GraphQL response.
    pub fn into_server_error(self) -> ServerError {
        let code = self.code();
        let mut error = match self {
            Self::Unparsable(error) => error,
            other => ServerError::new(other.message(), None),
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", Value::from(code));
        error
    }
}

/// Refuses a document longer than `config.max_document_bytes`.
pub fn check_size(query: &str, config: &GraphqlConfig) -> Result<(), DocumentError> {
    if query.len() > config.max_document_bytes {
        return Err(DocumentError::TooLarge {
            bytes: query.len(),
            max: config.max_document_bytes,
        });
    }
    Ok(())
}

/// Checks `request`'s document in the order above, leaving it parsed in the request.
pub fn inspect(request: &mut Request, config: &GraphqlConfig) -> Result<(), DocumentError> {
    check_size(&request.query, config)?;
    if nesting(&request.query) > MAX_NESTING {
        return Err(DocumentError::NestedTooDeep);
    }
    let document = request
        .parsed_query()
        .map_err(|e| DocumentError::Unparsable(e.clone()))?;
    let mut expansion = Expansion {
        document,
        fragments: HashMap::new(),
    };
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node.selection_set.node)
            .collect(),
    };
    for selection_set in operations {
        let measure = expansion.measure(selection_set, Within::Schema, 0)?;
        if measure.fields > config.max_complexity as u64 {
            return Err(DocumentError::TooComplex {
                max: config.max_complexity,
            });
        }
        if measure.depth > config.max_depth {
            return Err(DocumentError::TooDeep {
                depth: measure.depth,
                max: config.max_depth,
            });
        }
    }
    Ok(())
}

/// The deepest bracket nesting outside strings and comments.
fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut at) = (0_usize, 0_usize, 0_usize);
    while at < bytes.len() {
        match bytes[at] {
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at += 3;
                while at < bytes.len() && !bytes[at..].starts_with(b"\"\"\"") {
                    at += if bytes[at..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                at += 2;
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    deepest
}

/// Where a selection is: among the schema's own types, or inside `__schema` / `__type`
/// (where `ofType` adds no depth; see [`depth`](self#depth)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Within {
    Schema,
    Introspection,
}

/// What a selection costs: the fields it selects and how deep they nest, fragments expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    fields: u64,
    depth: usize,
}

/// Measures selections with fragments expanded, each fragment once per [`Within`].
struct Expansion<'a> {
    document: &'a ExecutableDocument,
    /// Per fragment and place; `None` while the fragment is being measured (a cycle, if met).
    fragments: HashMap<(&'a str, Within), Option<Measure>>,
}

impl<'a> Expansion<'a> {
    /// Measures `set` at `nesting` (fields, inline fragments and spreads each add one, so the
    /// recursion stays within [`MAX_NESTING`]).
    fn measure(
        &mut self,
        set: &'a SelectionSet,
        within: Within,
        nesting: usize,
    ) -> Result<Measure, DocumentError> {
        if nesting > MAX_NESTING {
            return Err(DocumentError::NestedTooDeep);
        }
        let mut total = Measure::default();
        for item in &set.items {
            let measure = match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let inner = match name {
                        "__schema" | "__type" => Within::Introspection,
                        _ => within,
                    };
                    let below = self.measure(&field.node.selection_set.node, inner, nesting + 1)?;
                    let level = usize::from(!(within == Within::Introspection && name == "ofType"));
                    Measure {
                        fields: 1 + below.fields,
                        depth: level + below.depth,
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.measure(&inline.node.selection_set.node, within, nesting + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), within, nesting + 1)?
                }
            };
            total.fields = total.fields.saturating_add(measure.fields);
            total.depth = total.depth.max(measure.depth);
        }
        Ok(total)
    }

    fn fragment(
        &mut self,
        name: &'a str,
        within: Within,
        nesting: usize,
    ) -> Result<Measure, DocumentError> {
        match self.fragments.get(&(name, within)) {
            Some(Some(measure)) => return Ok(*measure),
            Some(None) => return Err(DocumentError::FragmentCycle(name.to_owned())),
            None => {}
        }
        // An unknown fragment selects nothing here; validation reports it.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(Measure::default());
        };
        self.fragments.insert((name, within), None);
        let measure = self.measure(&fragment.node.selection_set.node, within, nesting)?;
        self.fragments.insert((name, within), Some(measure));
        Ok(measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected(query: &str) -> Result<(), DocumentError> {
        inspect(&mut Request::new(query), &GraphqlConfig::default())
    }

    #[test]
    fn nesting_ignores_brackets_in_strings_and_comments() {
        assert_eq!(nesting("{ a { b(x: [1]) } }"), 4);
        assert_eq!(nesting("{ a(s: \"{{{{\\\"{{\") }"), 2);
        assert_eq!(nesting("{ a(s: \"\"\"{{{ \\\"\"\" {{{\"\"\") }"), 2);
        assert_eq!(nesting("# {{{{{\n{ a }"), 1);
        assert_eq!(nesting("}}}{"), 1);
    }

    #[test]
    fn a_deep_document_is_refused_before_parsing() {
        let deep = format!("{}{}", "{ a ".repeat(3000), "}".repeat(3000));
        assert!(matches!(
            inspected(&deep),
            Err(DocumentError::NestedTooDeep)
        ));
    }

    /// The depth [`inspect`] measures for `query`'s one operation.
    fn depth(query: &str) -> usize {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let operation = match &document.operations {
            DocumentOperations::Single(operation) => operation,
            DocumentOperations::Multiple(operations) => {
                operations.values().next().expect("one operation")
            }
        };
        let mut expansion = Expansion {
            document: &document,
            fragments: HashMap::new(),
        };
        expansion
            .measure(&operation.node.selection_set.node, Within::Schema, 0)
            .expect("measured")
            .depth
    }

    #[test]
    fn of_type_chains_add_no_depth_inside_introspection_only() {
        let standard = include_str!("../../tests/api/fixtures/introspection.graphql");
        // __schema › types › fields › args › type › name, through fragments.
        assert_eq!(depth(standard), 6);
        assert!(inspected(standard).is_ok());
        let chain = format!(
            "{{ __type(name: \"Cart\") {{ {} name {} }} }}",
            "ofType { ".repeat(20),
            "}".repeat(20)
        );
        assert_eq!(depth(&chain), 2);
        // Every other introspection field counts: this one fans out with the schema's size.
        let fan_out = format!(
            "{{ __schema {{ types {{ {} name {} }} }} }}",
            "fields { type { ".repeat(5),
            "} }".repeat(5)
        );
        assert_eq!(depth(&fan_out), 13);
        assert!(matches!(
            inspected(&fan_out),
            Err(DocumentError::TooDeep { depth: 13, max: 10 })
        ));
        // Outside introspection `ofType` is a field like any other.
        assert_eq!(depth("{ a { ofType { ofType { b } } } }"), 4);
        // A fragment measured inside introspection is measured again outside it.
        let both = "{ __type(name: \"x\") { ...T } a { ...T } } \
                    fragment T on __Type { ofType { ofType { name } } }";
        assert_eq!(depth(both), 4);
    }

    #[test]
    fn fragments_that_multiply_are_counted_once_each() {
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..40 {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F40 on Query { __typename }\n");
        assert!(matches!(
            inspected(&query),
            Err(DocumentError::TooComplex { max: 500 })
        ));
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(matches!(
            inspected(cycle),
            Err(DocumentError::FragmentCycle(_))
        ));
        assert!(inspected("{ ...A } fragment A on Query { __typename a: __typename }").is_ok());
    }
}
