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
//! 4. the number of fields each operation selects with its fragments expanded, computed once
//!    per fragment (`QUERY_TOO_COMPLEX` past `GraphqlConfig::max_complexity`, the same count
//!    async-graphql's complexity makes; `QUERY_TOO_DEEP` for selections nested, through
//!    fragments, deeper than [`MAX_NESTING`]; `GRAPHQL_VALIDATION_FAILED` for a fragment
//!    cycle).

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
        fields: HashMap::new(),
    };
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node.selection_set.node)
            .collect(),
    };
    for selection_set in operations {
        if expansion.fields_in(selection_set, 0)? > config.max_complexity as u64 {
            return Err(DocumentError::TooComplex {
                max: config.max_complexity,
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

/// Counts selected fields with fragments expanded, each fragment once.
struct Expansion<'a> {
    document: &'a ExecutableDocument,
    /// Fields per fragment; `None` while the fragment is being counted (a cycle, if met).
    fields: HashMap<&'a str, Option<u64>>,
}

impl<'a> Expansion<'a> {
    /// Fields in `set` at `depth` (fields, inline fragments and spreads each add one, so the
    /// recursion stays within [`MAX_NESTING`]).
    fn fields_in(&mut self, set: &'a SelectionSet, depth: usize) -> Result<u64, DocumentError> {
        if depth > MAX_NESTING {
            return Err(DocumentError::NestedTooDeep);
        }
        let mut total = 0_u64;
        for item in &set.items {
            let fields = match &item.node {
                Selection::Field(field) => {
                    1 + self.fields_in(&field.node.selection_set.node, depth + 1)?
                }
                Selection::InlineFragment(inline) => {
                    self.fields_in(&inline.node.selection_set.node, depth + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), depth + 1)?
                }
            };
            total = total.saturating_add(fields);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<u64, DocumentError> {
        match self.fields.get(name) {
            Some(Some(fields)) => return Ok(*fields),
            Some(None) => return Err(DocumentError::FragmentCycle(name.to_owned())),
            None => {}
        }
        // An unknown fragment selects nothing here; validation reports it.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(0);
        };
        self.fields.insert(name, None);
        let fields = self.fields_in(&fragment.node.selection_set.node, depth)?;
        self.fields.insert(name, Some(fields));
        Ok(fields)
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
