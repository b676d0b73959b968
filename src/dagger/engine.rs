//! The simulated Dagger engine: the testkit's fault server answering the part of Dagger's GraphQL
//! API the adapter uses.
//!
//! Requests that the fault plan lets through reach [`handler`], which speaks the session protocol:
//! `POST /query` with basic auth (the session token as user name), a JSON body
//! `{"query": .., "variables": {..}}`, and a GraphQL response. It understands a small, strict
//! subset of GraphQL: one query operation with variable definitions, fields with aliases and
//! arguments (strings, numbers, booleans, enums, lists, objects, variables), and the fields
//!
//! ```graphql
//! type Query     { container: Container! }
//! type Container { from(address: String!): Container!
//!                  withExec(args: [String!]!): Container!
//!                  stdout: String!  stderr: String!  exitCode: Int! }
//! ```
//!
//! Commands run deterministically: `echo [-n] ARGS..` prints its arguments, `true` prints nothing,
//! `false` fails with exit code 1, and any other command is not found. Like the real engine, a
//! query it cannot parse or validate gets `422` with `{"errors": [{"message": ..}]}`, and a command
//! that fails gets `200` with the error (and `"data": null`). A wrong token gets `401`, another
//! path `404`, another method `405`.

use std::fmt;

use base64::Engine as _;
use retry_runtime::testkit::{FaultPlan, FaultServer, FaultServerBuilder, Request, Response};
use serde_json::{Map, Value, json};

use super::adapter::Endpoint;
use super::error::SetupError;

/// The session token of a simulated engine.
pub const SIMULATED_TOKEN: &str = "simulated-session-token";

/// A simulated engine on `127.0.0.1` at a free port, injecting the faults of its plan.
pub struct SimulatedEngine {
    server: FaultServer,
    endpoint: Endpoint,
}

impl SimulatedEngine {
    /// Starts an engine whose requests get the faults of `plan`.
    pub async fn start(plan: FaultPlan) -> Result<SimulatedEngine, SetupError> {
        SimulatedEngine::start_with(FaultServer::builder().plan(plan)).await
    }

    /// Starts an engine on a fault server with these settings (plan, limits, hang time); the
    /// handler is set here.
    pub async fn start_with(builder: FaultServerBuilder) -> Result<SimulatedEngine, SetupError> {
        let server = builder.handler(handler(SIMULATED_TOKEN)).start().await.map_err(SetupError::Engine)?;
        let endpoint = Endpoint::new(server.url(), SIMULATED_TOKEN);
        Ok(SimulatedEngine { server, endpoint })
    }

    /// Where the engine listens, with its token.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// The fault server underneath: its stats, its plan, its in-flight requests.
    pub fn server(&self) -> &FaultServer {
        &self.server
    }

    /// Stops the engine and waits for its connections to close.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}

impl fmt::Debug for SimulatedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedEngine").field("server", &self.server).finish_non_exhaustive()
    }
}

/// The request handler of a simulated engine whose session token is `token`.
pub fn handler(token: &str) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
    let expected = format!("Basic {credentials}");
    move |request: &Request| {
        if request.path != "/query" {
            return Response::text(404, "404 page not found\n");
        }
        if request.method != "POST" {
            return Response::text(405, "method not allowed\n").with_header("allow", "POST");
        }
        if request.header("authorization") != Some(expected.as_str()) {
            return Response::text(401, "unauthorized\n").with_header("www-authenticate", "Basic");
        }
        let body = match request.json() {
            Ok(Value::Object(body)) => body,
            Ok(_) => return errors(400, "json body must be an object"),
            Err(e) => return errors(400, &format!("json body could not be decoded: {e}")),
        };
        let Some(query) = body.get("query").and_then(Value::as_str) else {
            return errors(422, "no operation provided");
        };
        let variables = match body.get("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(v)) => v.clone(),
            Some(_) => return errors(400, "variables must be an object"),
        };
        match execute(query, &variables) {
            Ok(data) => Response::json(200, json!({ "data": data })),
            Err(Failure::Invalid(message)) => errors(422, &message),
            Err(Failure::Exec { message, path }) => {
                Response::json(200, json!({ "errors": [{ "message": message, "path": path }], "data": null }))
            }
        }
    }
}

/// A GraphQL error response with one message.
fn errors(status: u16, message: &str) -> Response {
    Response::json(status, json!({ "errors": [{ "message": message }], "data": null }))
}

/// Why a query produced no data.
#[derive(Debug, PartialEq)]
enum Failure {
    /// The query does not parse or does not fit the schema.
    Invalid(String),
    /// A command failed; `path` is the field that ran it.
    Exec { message: String, path: Vec<String> },
}

/// Parses and runs `query`.
fn execute(query: &str, variables: &Map<String, Value>) -> Result<Value, Failure> {
    let operation = Parser::new(query).document().map_err(Failure::Invalid)?;
    let mut vars = variables.clone();
    for (name, default) in operation.defaults {
        vars.entry(name).or_insert(default);
    }
    let mut data = Map::new();
    for field in &operation.selection {
        let value = match field.name.as_str() {
            "container" => {
                let selection = object_selection(field, "Container")?;
                no_arguments(field, &[])?;
                container(selection, &Container::default(), &vars, &mut vec![field.key().to_owned()])?
            }
            "__typename" => Value::from("Query"),
            other => return Err(unknown_field(other, "Query")),
        };
        data.insert(field.key().to_owned(), value);
    }
    Ok(Value::Object(data))
}

/// A container as the query builds it: an image and the commands run on it, in order.
#[derive(Clone, Debug, Default)]
struct Container {
    image: Option<String>,
    execs: Vec<Vec<String>>,
}

fn container(
    selection: &[Field],
    state: &Container,
    vars: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Value, Failure> {
    let mut out = Map::new();
    for field in selection {
        path.push(field.key().to_owned());
        let value = match field.name.as_str() {
            "from" => {
                no_arguments(field, &["address"])?;
                let address = string_argument(field, "address", vars)?;
                let next = Container { image: Some(address), ..state.clone() };
                container(object_selection(field, "Container")?, &next, vars, path)?
            }
            "withExec" => {
                no_arguments(field, &["args"])?;
                let args = match field.argument("args").map(|v| v.resolve(vars)).transpose()? {
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            other => Err(Failure::Invalid(format!(
                                "Argument \"args\" has invalid value: expected String!, found {other}."
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(Value::String(s)) => vec![s],
                    _ => {
                        return Err(Failure::Invalid(
                            "Field \"withExec\" argument \"args\" of type \"[String!]!\" is required.".into(),
                        ));
                    }
                };
                let mut next = state.clone();
                next.execs.push(args);
                container(object_selection(field, "Container")?, &next, vars, path)?
            }
            "stdout" | "stderr" | "exitCode" => {
                scalar(field, "Container")?;
                no_arguments(field, &[])?;
                let stdout = run(state).map_err(|message| Failure::Exec { message, path: path.clone() })?;
                match field.name.as_str() {
                    "stdout" => Value::from(stdout),
                    "stderr" => Value::from(""),
                    _ => Value::from(0),
                }
            }
            "__typename" => Value::from("Container"),
            other => return Err(unknown_field(other, "Container")),
        };
        path.pop();
        out.insert(field.key().to_owned(), value);
    }
    Ok(Value::Object(out))
}

/// Runs the container's commands in order; the stdout of the last one.
fn run(state: &Container) -> Result<String, String> {
    let Some(image) = &state.image else {
        return Err("no image: start from an image with from(address:) before withExec".into());
    };
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_ascii_uppercase()) {
        return Err(format!("invalid reference format: {image:?}"));
    }
    let mut stdout = None;
    for args in &state.execs {
        stdout = Some(command(args)?);
    }
    stdout.ok_or_else(|| "no command has been set".to_owned())
}

/// One command of the simulated image.
fn command(args: &[String]) -> Result<String, String> {
    let failed = |what: String| format!("process {:?} did not complete successfully: {what}", args.join(" "));
    match args.first().map(String::as_str) {
        None => Err("no command has been set".into()),
        Some("echo") => {
            let (newline, words) = match args.get(1).map(String::as_str) {
                Some("-n") => (false, &args[2..]),
                _ => (true, &args[1..]),
            };
            let mut out = words.join(" ");
            if newline {
                out.push('\n');
            }
            Ok(out)
        }
        Some("true") => Ok(String::new()),
        Some("false") => Err(failed("exit code: 1".into())),
        Some(other) => Err(failed(format!("exec: {other:?}: executable file not found in $PATH"))),
    }
}

fn unknown_field(name: &str, on: &str) -> Failure {
    Failure::Invalid(format!("Cannot query field \"{name}\" on type \"{on}\"."))
}

fn object_selection<'f>(field: &'f Field, ty: &str) -> Result<&'f [Field], Failure> {
    field.selection.as_deref().ok_or_else(|| {
        Failure::Invalid(format!(
            "Field \"{}\" of type \"{ty}!\" must have a selection of subfields.",
            field.name
        ))
    })
}

fn scalar(field: &Field, on: &str) -> Result<(), Failure> {
    match field.selection {
        None => Ok(()),
        Some(_) => Err(Failure::Invalid(format!(
            "Field \"{}\" must not have a selection since type \"{on}.{}\" has no subfields.",
            field.name, field.name
        ))),
    }
}

fn no_arguments(field: &Field, allowed: &[&str]) -> Result<(), Failure> {
    match field.arguments.iter().find(|(name, _)| !allowed.contains(&name.as_str())) {
        None => Ok(()),
        Some((name, _)) => {
            Err(Failure::Invalid(format!("Unknown argument \"{name}\" on field \"{}\".", field.name)))
        }
    }
}

fn string_argument(field: &Field, name: &str, vars: &Map<String, Value>) -> Result<String, Failure> {
    match field.argument(name).map(|v| v.resolve(vars)).transpose()? {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Failure::Invalid(format!(
            "Argument \"{name}\" has invalid value: expected String!, found {other}."
        ))),
        None => Err(Failure::Invalid(format!(
            "Field \"{}\" argument \"{name}\" of type \"String!\" is required.",
            field.name
        ))),
    }
}

/// A parsed query: its selection and the default values of its variables.
#[derive(Debug)]
struct Operation {
    selection: Vec<Field>,
    defaults: Vec<(String, Value)>,
}

#[derive(Debug)]
struct Field {
    alias: Option<String>,
    name: String,
    arguments: Vec<(String, Literal)>,
    selection: Option<Vec<Field>>,
}

impl Field {
    /// The key of the field in the response: its alias, or its name.
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    fn argument(&self, name: &str) -> Option<&Literal> {
        self.arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A value written in the query.
#[derive(Debug, Clone)]
enum Literal {
    Value(Value),
    Variable(String),
    List(Vec<Literal>),
    Object(Vec<(String, Literal)>),
}

impl Literal {
    fn resolve(&self, vars: &Map<String, Value>) -> Result<Value, Failure> {
        Ok(match self {
            Literal::Value(v) => v.clone(),
            Literal::Variable(name) => vars.get(name).cloned().unwrap_or(Value::Null),
            Literal::List(items) => {
                Value::Array(items.iter().map(|i| i.resolve(vars)).collect::<Result<_, _>>()?)
            }
            Literal::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.resolve(vars)?)))
                    .collect::<Result<_, Failure>>()?,
            ),
        })
    }
}

/// Deepest nesting of selections and values accepted, so that no query can exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A recursive-descent parser of the GraphQL subset, over a hand-written lexer.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<Token>,
    depth: usize,
}

type Parsed<T> = Result<T, String>;

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser { src, pos: 0, peeked: None, depth: 0 }
    }

    fn document(&mut self) -> Parsed<Operation> {
        let mut defaults = Vec::new();
        match self.peek()? {
            Some(Token::Punct('{')) => {}
            Some(Token::Name(keyword)) if keyword == "query" => {
                self.next()?;
                if let Some(Token::Name(_)) = self.peek()? {
                    self.next()?;
                }
                if self.peek()? == Some(Token::Punct('(')) {
                    defaults = self.variable_definitions()?;
                }
            }
            Some(Token::Name(keyword)) if keyword == "mutation" || keyword == "subscription" => {
                return Err(format!("the simulated engine answers queries only, not {keyword}s"));
            }
            Some(other) => return Err(format!("Unexpected {}", describe(&other))),
            None => return Err("Unexpected <EOF>".into()),
        }
        let selection = self.selection_set()?;
        match self.next()? {
            None => Ok(Operation { selection, defaults }),
            Some(other) => Err(format!(
                "Unexpected {} after the operation (one operation per request)",
                describe(&other)
            )),
        }
    }

    fn variable_definitions(&mut self) -> Parsed<Vec<(String, Value)>> {
        self.expect('(')?;
        let mut defaults = Vec::new();
        loop {
            if self.peek()? == Some(Token::Punct(')')) {
                self.next()?;
                return Ok(defaults);
            }
            self.expect('$')?;
            let name = self.name()?;
            self.expect(':')?;
            self.type_reference()?;
            if self.peek()? == Some(Token::Punct('=')) {
                self.next()?;
                let default = self.value(true)?.resolve(&Map::new()).map_err(|_| "invalid default value")?;
                defaults.push((name, default));
            }
        }
    }

    fn type_reference(&mut self) -> Parsed<()> {
        self.descend()?;
        match self.next()? {
            Some(Token::Name(_)) => {}
            Some(Token::Punct('[')) => {
                self.type_reference()?;
                self.expect(']')?;
            }
            Some(other) => return Err(format!("Expected a type, found {}", describe(&other))),
            None => return Err("Expected a type, found <EOF>".into()),
        }
        if self.peek()? == Some(Token::Punct('!')) {
            self.next()?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn selection_set(&mut self) -> Parsed<Vec<Field>> {
        self.descend()?;
        self.expect('{')?;
        let mut fields = Vec::new();
        loop {
            match self.peek()? {
                Some(Token::Punct('}')) => {
                    self.next()?;
                    break;
                }
                Some(Token::Name(_)) => fields.push(self.field()?),
                Some(Token::Punct('.')) => return Err("fragments are not supported".into()),
                Some(other) => return Err(format!("Expected a field, found {}", describe(&other))),
                None => return Err("Expected a field, found <EOF>".into()),
            }
        }
        if fields.is_empty() {
            return Err("Expected a field, found }".into());
        }
        self.depth -= 1;
        Ok(fields)
    }

    fn field(&mut self) -> Parsed<Field> {
        let first = self.name()?;
        let (alias, name) = if self.peek()? == Some(Token::Punct(':')) {
            self.next()?;
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut arguments = Vec::new();
        if self.peek()? == Some(Token::Punct('(')) {
            self.next()?;
            while self.peek()? != Some(Token::Punct(')')) {
                let arg = self.name()?;
                self.expect(':')?;
                arguments.push((arg, self.value(false)?));
            }
            self.next()?;
        }
        if self.peek()? == Some(Token::Punct('@')) {
            return Err("directives are not supported".into());
        }
        let selection =
            if self.peek()? == Some(Token::Punct('{')) { Some(self.selection_set()?) } else { None };
        Ok(Field { alias, name, arguments, selection })
    }

    /// A value; `constant` forbids variables (in default values).
    fn value(&mut self, constant: bool) -> Parsed<Literal> {
        self.descend()?;
        let value = match self.next()? {
            Some(Token::Punct('$')) if !constant => Literal::Variable(self.name()?),
            Some(Token::Str(s)) => Literal::Value(Value::String(s)),
            Some(Token::Int(i)) => Literal::Value(Value::from(i)),
            Some(Token::Float(f)) => Literal::Value(Value::from(f)),
            Some(Token::Name(n)) => Literal::Value(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            }),
            Some(Token::Punct('[')) => {
                let mut items = Vec::new();
                while self.peek()? != Some(Token::Punct(']')) {
                    items.push(self.value(constant)?);
                }
                self.next()?;
                Literal::List(items)
            }
            Some(Token::Punct('{')) => {
                let mut fields = Vec::new();
                while self.peek()? != Some(Token::Punct('}')) {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.value(constant)?));
                }
                self.next()?;
                Literal::Object(fields)
            }
            Some(other) => return Err(format!("Expected a value, found {}", describe(&other))),
            None => return Err("Expected a value, found <EOF>".into()),
        };
        self.depth -= 1;
        Ok(value)
    }

    fn descend(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn name(&mut self) -> Parsed<String> {
        match self.next()? {
            Some(Token::Name(n)) => Ok(n),
            Some(other) => Err(format!("Expected Name, found {}", describe(&other))),
            None => Err("Expected Name, found <EOF>".into()),
        }
    }

    fn expect(&mut self, punct: char) -> Parsed<()> {
        match self.next()? {
            Some(Token::Punct(p)) if p == punct => Ok(()),
            Some(other) => Err(format!("Expected {punct}, found {}", describe(&other))),
            None => Err(format!("Expected {punct}, found <EOF>")),
        }
    }

    fn peek(&mut self) -> Parsed<Option<Token>> {
        if self.peeked.is_none() {
            self.peeked = self.lex()?;
        }
        Ok(self.peeked.clone())
    }

    fn next(&mut self) -> Parsed<Option<Token>> {
        match self.peeked.take() {
            Some(token) => Ok(Some(token)),
            None => self.lex(),
        }
    }

    /// The next token, skipping whitespace, commas and comments.
    fn lex(&mut self) -> Parsed<Option<Token>> {
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(self.pos) {
                None => return Ok(None),
                Some(b' ' | b'\t' | b'\n' | b'\r' | b',') => self.pos += 1,
                Some(b'#') => {
                    while !matches!(bytes.get(self.pos), None | Some(b'\n' | b'\r')) {
                        self.pos += 1;
                    }
                }
                Some(_) => break,
            }
        }
        let start = self.pos;
        let c = bytes[start];
        match c {
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b':' | b'!' | b'$' | b'=' | b'@' | b'|' | b'&' => {
                self.pos += 1;
                Ok(Some(Token::Punct(c as char)))
            }
            b'.' => {
                self.pos += 1;
                Ok(Some(Token::Punct('.')))
            }
            b'"' => self.string().map(|s| Some(Token::Str(s))),
            b'-' | b'0'..=b'9' => {
                self.pos += 1;
                let mut float = false;
                while let Some(&b) = bytes.get(self.pos) {
                    match b {
                        b'0'..=b'9' => {}
                        b'.' | b'e' | b'E' | b'+' | b'-' => float = true,
                        _ => break,
                    }
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                if float {
                    text.parse().map(|f| Some(Token::Float(f))).map_err(|_| format!("Invalid number {text}"))
                } else {
                    text.parse().map(|i| Some(Token::Int(i))).map_err(|_| format!("Invalid number {text}"))
                }
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while matches!(bytes.get(self.pos), Some(b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9')) {
                    self.pos += 1;
                }
                Ok(Some(Token::Name(self.src[start..self.pos].to_owned())))
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                Err(format!("Unexpected character {ch:?}"))
            }
        }
    }

    /// A string after its opening quote, with GraphQL's (JSON's) escapes; no block strings.
    fn string(&mut self) -> Parsed<String> {
        if self.src[self.pos..].starts_with("\"\"\"") {
            return Err("block strings are not supported".into());
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\n' | '\r' => break,
                '\\' => {
                    let escaped = match chars.next().map(|(_, e)| e) {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .and_then(char::from_u32)
                                .ok_or_else(|| format!("Invalid Unicode escape \\u{hex}"))?
                        }
                        Some(other) => return Err(format!("Invalid escape \\{other}")),
                        None => break,
                    };
                    out.push(escaped);
                }
                c => out.push(c),
            }
        }
        Err("Unterminated string".into())
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Punct(p) => format!("\"{p}\""),
        Token::Name(n) => format!("Name \"{n}\""),
        Token::Int(i) => format!("Int \"{i}\""),
        Token::Float(f) => format!("Float \"{f}\""),
        Token::Str(s) => format!("String {s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dagger::adapter::EXEC_QUERY;

    fn run_query(query: &str, vars: Value) -> Result<Value, Failure> {
        let Value::Object(vars) = vars else { panic!("variables must be an object") };
        execute(query, &vars)
    }

    #[test]
    fn the_adapters_query_runs_echo() {
        let data = run_query(EXEC_QUERY, json!({"address": "alpine:3.20", "args": ["echo", "hi", "there"]}));
        assert_eq!(data.unwrap(), json!({"container": {"from": {"withExec": {"stdout": "hi there\n"}}}}));
    }

    #[test]
    fn literals_aliases_and_chained_execs() {
        let q = r#"{ c: container { from(address: "alpine") { withExec(args: ["true"]) {
                      withExec(args: ["echo", "-n", "a\"b\u0041"]) { out: stdout, code: exitCode } } } } }"#;
        let data = run_query(q, json!({})).unwrap();
        assert_eq!(data, json!({"c": {"from": {"withExec": {"withExec": {"out": "a\"bA", "code": 0}}}}}));
    }

    #[test]
    fn failing_commands_are_execution_errors() {
        let q = r#"{ container { from(address: "alpine") { withExec(args: ["make"]) { stdout } } } }"#;
        let Err(Failure::Exec { message, path }) = run_query(q, json!({})) else { panic!() };
        assert!(message.contains("executable file not found"), "{message}");
        assert_eq!(path, ["container", "from", "withExec", "stdout"]);
    }

    #[test]
    fn bad_queries_are_invalid() {
        for q in [
            "",
            "{",
            "{ container }",
            "{ nope }",
            "{ container { from(address: \"a\") { stdout { x } } } }",
            "{ container { from(address: \"a\", tag: 1) { stdout } } }",
            "{ container { from { stdout } } }",
            "query Q($a: String!) { container { from(address: $a) { stdout } } } { container }",
            "mutation { container }",
            "{ container { ...F } }",
            "{ container { from(address: \"unterminated) { stdout } } }",
        ] {
            assert!(matches!(run_query(q, json!({})), Err(Failure::Invalid(_))), "{q}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let q = format!("{}{}", "{ container ".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(run_query(&q, json!({})), Err(Failure::Invalid(_))));
        let v = format!(
            "{{ container {{ from(address: {}\"a\"{}) {{ stdout }} }} }}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(run_query(&v, json!({})), Err(Failure::Invalid(_))));
    }

    #[test]
    fn the_handler_checks_the_session() {
        let handle = handler("tok");
        let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("tok:"));
        let body = json!({"query": EXEC_QUERY, "variables": {"address": "alpine", "args": ["echo", "x"]}})
            .to_string();
        let request =
            Request::new("POST", "/query").with_header("Authorization", good.clone()).with_body(body.clone());
        assert_eq!(handle(&request).status, 200);
        let wrong = Request::new("POST", "/query").with_header("Authorization", "Basic eDo=").with_body(body);
        assert_eq!(handle(&wrong).status, 401);
        assert_eq!(
            handle(&Request::new("GET", "/query").with_header("Authorization", good.clone())).status,
            405
        );
        assert_eq!(handle(&Request::new("POST", "/other")).status, 404);
        let garbage =
            Request::new("POST", "/query").with_header("Authorization", good).with_body("{not json");
        assert_eq!(handle(&garbage).status, 400);
    }
}
