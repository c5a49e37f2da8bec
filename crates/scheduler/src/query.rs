//! The cluster query language of `memberOf` constraints and `ListContainerInstances` filters:
//! `subject operator [argument]` clauses joined by `and`/`&&`, `or`/`||`, `not`/`!` and
//! parentheses, e.g. `attribute:ecs.availability-zone in [zone-a, zone-b] && runningTasksCount < 5`.
//!
//! Parsing happens once (regular expressions compiled then); evaluation is a cheap walk over
//! an instance's facts.

use std::collections::BTreeMap;
use std::fmt;

/// Longest expression ECS accepts.
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// A parse error, with the character position (0-based) where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for QueryError {}

/// What an expression can ask about an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    AgentConnected,
    AgentVersion,
    Attribute(String),
    Ec2InstanceId,
    RegisteredAt,
    RunningTasksCount,
    TaskGroup,
}

impl Subject {
    /// True for subjects that change as tasks are placed (the rest are fixed for a snapshot).
    pub fn depends_on_tasks(&self) -> bool {
        matches!(self, Subject::RunningTasksCount | Subject::TaskGroup)
    }
}

#[derive(Debug, Clone)]
pub enum Operator {
    Equals(String),
    NotEquals(String),
    Greater(String),
    GreaterEqual(String),
    Less(String),
    LessEqual(String),
    Exists,
    NotExists,
    In(Vec<String>),
    NotIn(Vec<String>),
    Matches(regex::Regex),
    NotMatches(regex::Regex),
}

#[derive(Debug, Clone)]
pub enum Expr {
    Clause(Subject, Operator),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Whether evaluating needs the instance's current tasks.
    pub fn depends_on_tasks(&self) -> bool {
        match self {
            Expr::Clause(subject, _) => subject.depends_on_tasks(),
            Expr::Not(e) => e.depends_on_tasks(),
            Expr::And(a, b) | Expr::Or(a, b) => a.depends_on_tasks() || b.depends_on_tasks(),
        }
    }
}

/// The facts of one instance that expressions read.
pub trait Facts {
    fn agent_connected(&self) -> bool;
    fn agent_version(&self) -> Option<&str>;
    fn attribute(&self, name: &str) -> Option<&str>;
    /// The machine's id (`ec2InstanceId`: the agent's host id).
    fn ec2_instance_id(&self) -> &str;
    /// Registration time, seconds since the epoch.
    fn registered_at(&self) -> f64;
    fn running_tasks_count(&self) -> usize;
    /// The groups of the tasks on the instance (`family:web`, `service:api`, ...).
    fn task_groups(&self) -> &BTreeMap<String, usize>;
}

/// Parses an expression; errors name the position.
pub fn parse(text: &str) -> Result<Expr, QueryError> {
    if text.chars().count() > MAX_EXPRESSION_LEN {
        return Err(QueryError {
            position: MAX_EXPRESSION_LEN,
            message: format!("expression longer than {MAX_EXPRESSION_LEN} characters"),
        });
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(QueryError { position: 0, message: "empty expression".into() });
    }
    let mut parser = Parser { tokens, next: 0, end: text.chars().count(), depth: 0 };
    let expr = parser.or()?;
    if let Some(token) = parser.peek() {
        return Err(parser.error_at(token.position, format!("unexpected '{}'", token.text)));
    }
    Ok(expr)
}

/// Whether the instance satisfies the expression.
pub fn eval(expr: &Expr, facts: &dyn Facts) -> bool {
    match expr {
        Expr::Not(e) => !eval(e, facts),
        Expr::And(a, b) => eval(a, facts) && eval(b, facts),
        Expr::Or(a, b) => eval(a, facts) || eval(b, facts),
        Expr::Clause(subject, op) => match subject {
            Subject::TaskGroup => eval_groups(op, facts.task_groups()),
            Subject::AgentConnected => compare(
                op,
                Some(if facts.agent_connected() { "true" } else { "false" }),
                Kind::Text,
            ),
            Subject::AgentVersion => compare(op, facts.agent_version(), Kind::Text),
            Subject::Attribute(name) => compare(op, facts.attribute(name), Kind::Text),
            Subject::Ec2InstanceId => compare(op, Some(facts.ec2_instance_id()), Kind::Text),
            Subject::RegisteredAt => {
                compare(op, Some(&facts.registered_at().to_string()), Kind::Time)
            }
            Subject::RunningTasksCount => {
                compare(op, Some(&facts.running_tasks_count().to_string()), Kind::Text)
            }
        },
    }
}

/// `task:group` is many-valued: a positive operator holds when any group satisfies it, a
/// negative one when no group satisfies its positive form.
fn eval_groups(op: &Operator, groups: &BTreeMap<String, usize>) -> bool {
    let any = |f: &dyn Fn(&str) -> bool| groups.keys().any(|g| f(g));
    match op {
        Operator::Exists => !groups.is_empty(),
        Operator::NotExists => groups.is_empty(),
        Operator::NotEquals(v) => !any(&|g| g == v),
        Operator::NotIn(vs) => !any(&|g| vs.iter().any(|v| v == g)),
        Operator::NotMatches(re) => !any(&|g| re.is_match(g)),
        positive => any(&|g| compare(positive, Some(g), Kind::Text)),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// Seconds since the epoch on the instance side; the argument is a date or date-time.
    Time,
}

fn compare(op: &Operator, value: Option<&str>, kind: Kind) -> bool {
    let Some(value) = value else {
        // A missing value satisfies only the negative operators.
        return matches!(
            op,
            Operator::NotExists
                | Operator::NotEquals(_)
                | Operator::NotIn(_)
                | Operator::NotMatches(_)
        );
    };
    let order = |arg: &str| ordering(value, arg, kind);
    match op {
        Operator::Equals(v) => order(v) == Some(std::cmp::Ordering::Equal),
        Operator::NotEquals(v) => order(v) != Some(std::cmp::Ordering::Equal),
        Operator::Greater(v) => order(v) == Some(std::cmp::Ordering::Greater),
        Operator::GreaterEqual(v) => order(v).is_some_and(|o| o.is_ge()),
        Operator::Less(v) => order(v) == Some(std::cmp::Ordering::Less),
        Operator::LessEqual(v) => order(v).is_some_and(|o| o.is_le()),
        Operator::Exists => true,
        Operator::NotExists => false,
        Operator::In(vs) => vs.iter().any(|v| order(v) == Some(std::cmp::Ordering::Equal)),
        Operator::NotIn(vs) => !vs.iter().any(|v| order(v) == Some(std::cmp::Ordering::Equal)),
        Operator::Matches(re) => re.is_match(value),
        Operator::NotMatches(re) => !re.is_match(value),
    }
}

/// Numbers compare as numbers, times as times, anything else as text.
fn ordering(value: &str, arg: &str, kind: Kind) -> Option<std::cmp::Ordering> {
    match kind {
        Kind::Time => {
            let ours: f64 = value.parse().ok()?;
            let theirs = parse_time(arg)?;
            ours.partial_cmp(&theirs)
        }
        Kind::Text => match (value.parse::<f64>(), arg.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(value.cmp(arg)),
        },
    }
}

/// `2024-01-01`, `2024-01-01T10:20:30Z` (or with `.fff`) as seconds since the epoch (UTC).
pub fn parse_time(text: &str) -> Option<f64> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some()
        || !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) as f64 * 86_400.0;
    if let Some(time) = time {
        let mut hms = time.split(':');
        let h: f64 = hms.next()?.parse().ok()?;
        let m: f64 = hms.next().unwrap_or("0").parse().ok()?;
        let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
        seconds += h * 3600.0 + m * 60.0 + s;
    }
    Some(seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    /// `==`, `!=`, `>`, `>=`, `<`, `<=`, `=~`, `!~`, `&&`, `||`, `!`.
    Symbol,
    Word,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    text: String,
    position: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        // A regular expression runs to the next space (or an unbalanced `)`), brackets, bars
        // and all: `=~ i-[0-9]+|(t2|m5).*` needs no quotes.
        let after_match = tokens.last().is_some_and(|t| {
            matches!(t.text.as_str(), "=~" | "!~" | "matches" | "not_matches")
                && t.kind != TokenKind::Open
        });
        if after_match && !c.is_whitespace() && c != '"' && c != '\'' {
            let mut depth = 0usize;
            let mut word = String::new();
            while let Some(&ch) = chars.get(i) {
                match ch {
                    ch if ch.is_whitespace() => break,
                    '(' => depth += 1,
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    _ => {}
                }
                word.push(ch);
                i += 1;
            }
            tokens.push(Token { kind: TokenKind::Word, text: word, position: start });
            continue;
        }
        let single = |kind| Token { kind, text: c.to_string(), position: start };
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => tokens.push(single(TokenKind::Open)),
            ')' => tokens.push(single(TokenKind::Close)),
            '[' => tokens.push(single(TokenKind::OpenList)),
            ']' => tokens.push(single(TokenKind::CloseList)),
            ',' => tokens.push(single(TokenKind::Comma)),
            '"' | '\'' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(QueryError {
                                position: start,
                                message: "unterminated quoted value".into(),
                            })
                        }
                        Some('\\') if chars.get(i + 1).is_some() => {
                            value.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == quote => break,
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token { kind: TokenKind::Word, text: value, position: start });
            }
            '=' | '!' | '<' | '>' | '&' | '|' => {
                let next = chars.get(i + 1).copied();
                let two: Option<&str> = match (c, next) {
                    ('=', Some('=')) => Some("=="),
                    ('=', Some('~')) => Some("=~"),
                    ('!', Some('=')) => Some("!="),
                    ('!', Some('~')) => Some("!~"),
                    ('<', Some('=')) => Some("<="),
                    ('>', Some('=')) => Some(">="),
                    ('&', Some('&')) => Some("&&"),
                    ('|', Some('|')) => Some("||"),
                    _ => None,
                };
                let text = match (two, c) {
                    (Some(t), _) => t.to_string(),
                    (None, '!' | '<' | '>') => c.to_string(),
                    _ => {
                        return Err(QueryError {
                            position: start,
                            message: format!("unexpected character '{c}'"),
                        })
                    }
                };
                i += text.len() - 1;
                tokens.push(Token { kind: TokenKind::Symbol, text, position: start });
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "()[],\"'=!<>&|".contains(ch) {
                        // `=`/`!` etc. end a word only when they start an operator; `~` and
                        // friends inside regular expressions are ordinary characters.
                        break;
                    }
                    word.push(ch);
                    i += 1;
                }
                tokens.push(Token { kind: TokenKind::Word, text: word, position: start });
                continue;
            }
        }
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Length of the text, for errors at the end.
    end: usize,
    /// Nesting of parentheses and `not`s so far.
    depth: usize,
}

/// Deepest nesting of parentheses and `not`s accepted: the parser recurses per level, and a
/// 2,000-character `((((...` must be an error, not a stack overflow.
const MAX_DEPTH: usize = 32;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn error_at(&self, position: usize, message: String) -> QueryError {
        QueryError { position, message }
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.position)
    }

    fn is(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| {
            words.iter().any(|w| t.text.eq_ignore_ascii_case(w))
                && matches!(t.kind, TokenKind::Symbol | TokenKind::Word)
        })
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.is(&["||", "or"]) {
            self.next += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while self.is(&["&&", "and"]) {
            self.next += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        self.depth += 1;
        let result = self.unary_nested();
        self.depth -= 1;
        result
    }

    fn unary_nested(&mut self) -> Result<Expr, QueryError> {
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                self.here(),
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        if self.is(&["!", "not"]) {
            self.next += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.peek().map(|t| t.kind.clone()) {
            Some(TokenKind::Open) => {
                self.next += 1;
                let inner = self.or()?;
                match self.peek() {
                    Some(t) if t.kind == TokenKind::Close => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error_at(self.here(), "expected ')'".into())),
                }
            }
            Some(TokenKind::Word) => self.clause(),
            Some(_) => {
                let token = self.tokens[self.next].clone();
                Err(self.error_at(
                    token.position,
                    format!("expected a subject, found '{}'", token.text),
                ))
            }
            None => {
                Err(self.error_at(self.end, "expression ends where a subject was expected".into()))
            }
        }
    }

    fn clause(&mut self) -> Result<Expr, QueryError> {
        let token = self.tokens[self.next].clone();
        self.next += 1;
        let subject = subject(&token.text).ok_or_else(|| {
            self.error_at(
                token.position,
                format!(
                    "unknown subject '{}' (use agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group)",
                    token.text
                ),
            )
        })?;
        let Some(op) = self.peek().cloned() else {
            return Err(
                self.error_at(self.end, format!("expected an operator after '{}'", token.text))
            );
        };
        self.next += 1;
        // `!exists` and `!in` arrive as `!` then a word.
        let name = if op.text == "!" && self.is(&["exists", "in"]) {
            let word = self.tokens[self.next].text.to_ascii_lowercase();
            self.next += 1;
            format!("!{word}")
        } else {
            op.text.to_ascii_lowercase()
        };
        let operator = match name.as_str() {
            "exists" => Operator::Exists,
            "!exists" | "not_exists" => Operator::NotExists,
            "in" => Operator::In(self.list()?),
            "!in" | "not_in" => Operator::NotIn(self.list()?),
            "==" | "equals" => Operator::Equals(self.value()?),
            "!=" | "not_equals" => Operator::NotEquals(self.value()?),
            ">" | "greater_than" => Operator::Greater(self.comparable(&subject)?),
            ">=" | "greater_than_equal" => Operator::GreaterEqual(self.comparable(&subject)?),
            "<" | "less_than" => Operator::Less(self.comparable(&subject)?),
            "<=" | "less_than_equal" => Operator::LessEqual(self.comparable(&subject)?),
            "=~" | "matches" => Operator::Matches(self.regex()?),
            "!~" | "not_matches" => Operator::NotMatches(self.regex()?),
            _ => return Err(self.error_at(op.position, format!("unknown operator '{}'", op.text))),
        };
        Ok(Expr::Clause(subject, operator))
    }

    fn value(&mut self) -> Result<String, QueryError> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                let text = t.text.clone();
                self.next += 1;
                Ok(text)
            }
            Some(t) => {
                Err(self.error_at(t.position, format!("expected a value, found '{}'", t.text)))
            }
            None => {
                Err(self.error_at(self.end, "expression ends where a value was expected".into()))
            }
        }
    }

    /// A value for `<`, `>`...: registeredAt takes a date.
    fn comparable(&mut self, subject: &Subject) -> Result<String, QueryError> {
        let position = self.here();
        let value = self.value()?;
        if *subject == Subject::RegisteredAt && parse_time(&value).is_none() {
            return Err(self.error_at(
                position,
                format!("'{value}' is not a date (use 2024-01-01 or 2024-01-01T00:00:00Z)"),
            ));
        }
        Ok(value)
    }

    fn regex(&mut self) -> Result<regex::Regex, QueryError> {
        let position = self.here();
        let pattern = self.value()?;
        // Whole-value match, as `t2.*` in ECS's examples implies.
        regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            self.error_at(position, format!("invalid regular expression '{pattern}': {e}"))
        })
    }

    fn list(&mut self) -> Result<Vec<String>, QueryError> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::OpenList => self.next += 1,
            _ => return Err(self.error_at(self.here(), "expected '[' to start a list".into())),
        }
        let mut values = vec![self.value()?];
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                Some(TokenKind::Comma) => {
                    self.next += 1;
                    values.push(self.value()?);
                }
                Some(TokenKind::CloseList) => {
                    self.next += 1;
                    return Ok(values);
                }
                _ => return Err(self.error_at(self.here(), "expected ',' or ']' in a list".into())),
            }
        }
    }
}

fn subject(word: &str) -> Option<Subject> {
    if let Some(name) = word.strip_prefix("attribute:") {
        return (!name.is_empty()).then(|| Subject::Attribute(name.to_string()));
    }
    Some(match word {
        "agentConnected" => Subject::AgentConnected,
        "agentVersion" => Subject::AgentVersion,
        "ec2InstanceId" => Subject::Ec2InstanceId,
        "registeredAt" => Subject::RegisteredAt,
        "runningTasksCount" => Subject::RunningTasksCount,
        "task:group" => Subject::TaskGroup,
        _ => return None,
    })
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
