//! A protocol-neutral answer: the tree a multi-protocol service returns, which the door writes
//! as AWS JSON, query or EC2 XML, or CBOR (timestamps are epoch seconds in JSON, ISO 8601 in
//! XML, tag 1 in CBOR).

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    /// Epoch seconds.
    Time(i64),
    List(Vec<Document>),
    /// Members in the model's order (XML keeps it).
    Struct(Vec<(Name, Document)>),
}

/// A member's name in JSON and CBOR, and in XML (the model's `locationName`: EC2's answers
/// name nearly every member differently, `vpcSet` for `Vpcs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    pub json: &'static str,
    pub xml: &'static str,
}

impl From<&'static str> for Name {
    /// The same name on every wire.
    fn from(name: &'static str) -> Name {
        Name { json: name, xml: name }
    }
}

/// How lists are written in XML: the query protocol's `<member>` or EC2's `<item>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlLists {
    Member,
    Item,
}

impl Document {
    pub fn to_json(&self) -> Value {
        match self {
            Document::Str(s) => Value::String(s.clone()),
            Document::Num(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Document::Int(n) => Value::Number((*n).into()),
            Document::Bool(b) => Value::Bool(*b),
            Document::Time(t) => Value::Number((*t).into()),
            Document::List(items) => Value::Array(items.iter().map(Document::to_json).collect()),
            Document::Struct(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.json.to_string(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The members as XML elements (the content of an operation's result element).
    pub fn write_xml(&self, lists: XmlLists, out: &mut String) {
        match self {
            Document::Str(s) => out.push_str(&escape_xml(s)),
            Document::Num(n) => out.push_str(&format_number(*n)),
            Document::Int(n) => out.push_str(&n.to_string()),
            Document::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Document::Time(t) => out.push_str(&iso8601(*t)),
            Document::List(items) => {
                let tag = match lists {
                    XmlLists::Member => "member",
                    XmlLists::Item => "item",
                };
                for item in items {
                    out.push_str(&format!("<{tag}>"));
                    item.write_xml(lists, out);
                    out.push_str(&format!("</{tag}>"));
                }
            }
            Document::Struct(members) => {
                for (name, value) in members {
                    out.push('<');
                    out.push_str(name.xml);
                    out.push('>');
                    value.write_xml(lists, out);
                    out.push_str("</");
                    out.push_str(name.xml);
                    out.push('>');
                }
            }
        }
    }
}

/// A double as XML text: integers without a fraction, `NaN` and `Infinity` as AWS writes them.
fn format_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "Infinity".into()
    } else if value == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        format!("{value}")
    }
}

/// `2024-01-31T12:00:00Z`.
pub fn iso8601(epoch_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
