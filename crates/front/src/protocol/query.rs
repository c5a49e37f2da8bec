//! The query protocol and botocore's `ec2` protocol: parameters from a form body or the query
//! string (`Action`, `Version`, and members named by dotted paths such as
//! `Dimensions.member.1.Name` or EC2's `Filter.1.Value.1`) rebuilt into one JSON tree whose
//! leaves are strings (the service types them from its model); answers and errors in XML.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Map, Value};

use super::response;
use crate::document::{escape_xml, Document, XmlLists};
use crate::error::WireError;

const XML_CONTENT_TYPE: &str = "text/xml";
/// Parameters one request may carry (500 CloudWatch queries of a few members each fit).
const MAX_PARAMETERS: usize = 20_000;
/// The largest list index a parameter may use (`member.N`).
const MAX_LIST_INDEX: usize = 10_000;
/// Segments of one parameter name: the deepest name of the operations served has 9; the bound
/// keeps the tree (and the recursion that builds and types it) shallow whatever a client sends.
const MAX_NAME_SEGMENTS: usize = 16;
/// Parameters of the signature itself, which are not the operation's input.
const SIGNATURE_PARAMETERS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// A query-protocol request's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub action: Option<String>,
    pub version: Option<String>,
    /// The operation's input: objects and arrays of strings.
    pub input: Value,
}

/// Parses `application/x-www-form-urlencoded` text (a body or a query string; both may be
/// given, as `parts`).
pub fn parse(parts: &[&[u8]]) -> Result<Params, WireError> {
    let mut action = None;
    let mut version = None;
    let mut root = Node::Struct(BTreeMap::new());
    let mut count = 0;
    for part in parts {
        let text = std::str::from_utf8(part).map_err(|_| {
            WireError::invalid_parameter_value("The request's parameters are not UTF-8.")
        })?;
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            count += 1;
            if count > MAX_PARAMETERS {
                return Err(WireError::invalid_parameter_value(
                    "The request has too many parameters.",
                ));
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (form_decode(key)?, form_decode(value)?);
            match key.as_str() {
                "Action" => action = Some(value),
                "Version" => version = Some(value),
                k if SIGNATURE_PARAMETERS.contains(&k) => {}
                _ => root.insert(&key, value)?,
            }
        }
    }
    Ok(Params { action, version, input: root.into_value() })
}

/// One step of a parameter name.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Member(&'a str),
    /// A list position, 1-based (after `member`/`entry`, or bare as EC2 writes lists).
    Index(usize),
}

/// A parameter tree before it is typed.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Struct(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

impl Node {
    fn for_next(next: Option<&Step<'_>>) -> Node {
        match next {
            None => Node::Leaf(String::new()),
            Some(Step::Member(_)) => Node::Struct(BTreeMap::new()),
            Some(Step::Index(_)) => Node::List(BTreeMap::new()),
        }
    }

    fn insert(&mut self, key: &str, value: String) -> Result<(), WireError> {
        let steps = steps(key)?;
        let conflict = || {
            WireError::invalid_parameter_value(format!(
                "The parameter {key} conflicts with another one."
            ))
        };
        let mut node = self;
        for (n, step) in steps.iter().enumerate() {
            let next = steps.get(n + 1);
            node = match (node, step) {
                (Node::Struct(members), Step::Member(name)) => {
                    members.entry((*name).to_string()).or_insert_with(|| Node::for_next(next))
                }
                (Node::List(items), Step::Index(index)) => {
                    items.entry(*index).or_insert_with(|| Node::for_next(next))
                }
                _ => return Err(conflict()),
            };
        }
        match node {
            Node::Leaf(existing) => {
                *existing = value;
                Ok(())
            }
            _ => Err(conflict()),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Leaf(text) => Value::String(text),
            Node::Struct(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(name, node)| (name, node.into_value()))
                    .collect::<Map<_, _>>(),
            ),
            Node::List(items) => Value::Array(items.into_values().map(Node::into_value).collect()),
        }
    }
}

fn steps(key: &str) -> Result<Vec<Step<'_>>, WireError> {
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() > MAX_NAME_SEGMENTS {
        return Err(WireError::invalid_parameter_value(format!(
            "The parameter name '{}…' is nested too deeply.",
            key.chars().take(64).collect::<String>()
        )));
    }
    let bad_index = || {
        WireError::invalid_parameter_value(format!(
            "The parameter {key} has a bad list index (1 to {MAX_LIST_INDEX})."
        ))
    };
    let index = |segment: &str| {
        segment
            .parse::<usize>()
            .ok()
            .filter(|i| (1..=MAX_LIST_INDEX).contains(i))
            .ok_or_else(bad_index)
    };
    let mut steps = Vec::with_capacity(segments.len());
    let mut n = 0;
    while n < segments.len() {
        let segment = segments[n];
        if segment.is_empty() {
            return Err(WireError::invalid_parameter_value(format!(
                "The parameter name '{key}' is malformed."
            )));
        }
        if segment == "member" || segment == "entry" {
            steps.push(Step::Index(index(segments.get(n + 1).copied().unwrap_or(""))?));
            n += 2;
        } else if segment.bytes().all(|b| b.is_ascii_digit()) {
            steps.push(Step::Index(index(segment)?));
            n += 1;
        } else {
            steps.push(Step::Member(segment));
            n += 1;
        }
    }
    Ok(steps)
}

/// Form decoding: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn form_decode(text: &str) -> Result<String, WireError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut n = 0;
    while n < bytes.len() {
        match bytes[n] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = bytes
                    .get(n + 1..n + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        WireError::invalid_parameter_value("The request has a malformed %-escape.")
                    })?;
                out.push(byte);
                n += 2;
            }
            b => out.push(b),
        }
        n += 1;
    }
    String::from_utf8(out).map_err(|_| {
        WireError::invalid_parameter_value("The request has parameters that are not UTF-8.")
    })
}

const XML_PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// `<OpResponse xmlns><OpResult>…</OpResult><ResponseMetadata><RequestId>…`.
pub fn success(
    operation: &str,
    namespace: &str,
    document: &Document,
    request_id: &str,
) -> Response {
    let mut xml =
        format!("{XML_PROLOG}<{operation}Response xmlns=\"{namespace}\"><{operation}Result>");
    document.write_xml(XmlLists::Member, &mut xml);
    xml.push_str(&format!(
        "</{operation}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>\n",
        escape_xml(request_id)
    ));
    response(200, XML_CONTENT_TYPE, xml)
}

/// `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…`.
pub fn failure(error: &WireError, namespace: &str, request_id: &str) -> Response {
    let xmlns =
        if namespace.is_empty() { String::new() } else { format!(" xmlns=\"{namespace}\"") };
    let xml = format!(
        "{XML_PROLOG}<ErrorResponse{xmlns}><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>\n",
        error.fault.as_str(),
        escape_xml(error.query_code()),
        escape_xml(&error.message),
        escape_xml(request_id),
    );
    response(error.status, XML_CONTENT_TYPE, xml)
}

/// EC2's answer: `<OpResponse xmlns><requestId>…</requestId>…members…` with `<item>` lists.
pub fn ec2_success(
    operation: &str,
    namespace: &str,
    document: &Document,
    request_id: &str,
) -> Response {
    let mut xml = format!(
        "{XML_PROLOG}<{operation}Response xmlns=\"{namespace}\"><requestId>{}</requestId>",
        escape_xml(request_id)
    );
    document.write_xml(XmlLists::Item, &mut xml);
    xml.push_str(&format!("</{operation}Response>\n"));
    response(200, XML_CONTENT_TYPE, xml)
}

/// EC2's error: `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>
/// <RequestID>…</RequestID></Response>`.
pub fn ec2_failure(error: &WireError, request_id: &str) -> Response {
    let xml = format!(
        "{XML_PROLOG}<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>\n",
        escape_xml(error.query_code()),
        escape_xml(&error.message),
        escape_xml(request_id),
    );
    response(error.status, XML_CONTENT_TYPE, xml)
}

#[cfg(test)]
mod tests;
