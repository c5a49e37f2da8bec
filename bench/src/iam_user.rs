//! An IAM user for api-bench's authorization run: a customer managed policy of 20 statements
//! (the matching one last, a conditional deny before it) attached, and an access key, created
//! with the root key through IAM's query API.

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::client::{Connection, Signer, IAM};
use crate::servers::Server;

/// Statements in the user's policy.
pub const STATEMENTS: usize = 20;

/// The policy: 18 statements for other services and resources (each with a condition), a deny
/// that does not apply, and the allow of the benchmarked ECS operations last.
fn policy(region: &str) -> String {
    let mut statements: Vec<serde_json::Value> = (0..STATEMENTS - 2)
        .map(|i| {
            json!({
                "Sid": format!("Team{i}"),
                "Effect": "Allow",
                "Action": [format!("logs:Get{i}*"), "cloudwatch:Describe*"],
                "Resource": format!("arn:aws:logs:{region}:*:log-group:/team{i}/*"),
                "Condition": {"StringLike": {"aws:PrincipalTag/team": format!("team{i}*")}},
            })
        })
        .collect();
    statements.push(json!({
        "Sid": "NoProdDeletes",
        "Effect": "Deny",
        "Action": ["ecs:Delete*", "ecs:DeregisterTaskDefinition"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}},
    }));
    statements.push(json!({
        "Sid": "Ecs",
        "Effect": "Allow",
        "Action": ["ecs:Describe*", "ecs:List*", "ecs:RegisterTaskDefinition"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
    }));
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

async fn call(
    connection: &mut Connection,
    signer: &Signer,
    params: &[(&str, &str)],
) -> Result<String> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2010-05-08");
    for (name, value) in params {
        form.append_pair(name, value);
    }
    let action = params.first().map_or("", |p| p.1);
    let (status, body) =
        connection.call_service(signer, IAM, action, form.finish().into_bytes()).await?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        bail!("IAM {action}: {status}: {text}");
    }
    Ok(text)
}

fn element<'a>(xml: &'a str, name: &str) -> Result<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open).with_context(|| format!("no <{name}> in {xml}"))? + open.len();
    let end = xml[start..].find(&format!("</{name}>")).context("unclosed element")? + start;
    Ok(&xml[start..end])
}

/// Creates the user, its policy and a key on `server` (signed by its root key); the signer of
/// that key.
pub async fn create(server: &Server, region: &str) -> Result<Signer> {
    let mut connection = Connection::open(server.port).await?;
    let root = &server.signer;
    call(&mut connection, root, &[("Action", "CreateUser"), ("UserName", "bench")]).await?;
    let document = policy(region);
    let created = call(
        &mut connection,
        root,
        &[("Action", "CreatePolicy"), ("PolicyName", "bench"), ("PolicyDocument", &document)],
    )
    .await?;
    let arn = element(&created, "Arn")?.to_string();
    call(
        &mut connection,
        root,
        &[("Action", "AttachUserPolicy"), ("UserName", "bench"), ("PolicyArn", &arn)],
    )
    .await?;
    let key = call(&mut connection, root, &[("Action", "CreateAccessKey"), ("UserName", "bench")])
        .await?;
    Ok(Signer::new(element(&key, "AccessKeyId")?, element(&key, "SecretAccessKey")?, region))
}
