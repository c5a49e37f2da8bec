//! `flotilla logs`: the output of a task's or a service's containers (those logging with the
//! `awslogs` driver), read from the server's CloudWatch Logs API; `-f` follows new lines (and,
//! for a service, new tasks). Lines are prefixed by task and container when several streams
//! are shown, in colour on a terminal.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use crate::aws_env::AwsEnv;
use crate::client::{AwsClient, AwsError, ECS, LOGS};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The cluster of the task or service.
    #[arg(long, default_value = "default")]
    cluster: String,
    /// A task id or ARN.
    #[arg(long, required_unless_present = "service", conflicts_with = "service")]
    task: Option<String>,
    /// A service name: the logs of its running tasks.
    #[arg(long)]
    service: Option<String>,
    /// Only this container.
    #[arg(long)]
    container: Option<String>,
    /// Keep printing new lines as they arrive (Ctrl-C to stop).
    #[arg(short, long)]
    follow: bool,
    /// Only lines from this long ago on: 30s, 10m, 2h, 1d.
    #[arg(long, value_parser = parse_since)]
    since: Option<Duration>,
    /// The server's URL [default: AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL, the AWS profile's
    /// endpoint_url, else http://127.0.0.1:8720].
    #[arg(long, env = "FLOTILLA_ENDPOINT")]
    endpoint: Option<String>,
    /// [default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's region, else the server's].
    #[arg(long)]
    region: Option<String>,
    /// The server's data directory, for its credentials file when neither AWS_ACCESS_KEY_ID nor
    /// AWS_SHARED_CREDENTIALS_FILE gives keys [default: ~/.flotilla/dev, else
    /// ~/.flotilla/server].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// How often `-f` asks for new lines, and looks for a service's new tasks.
const POLL_EVERY: Duration = Duration::from_secs(1);
const RESOLVE_EVERY: Duration = Duration::from_secs(5);
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?}: expected e.g. 10m"))?;
    let seconds = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// One log stream being read.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    /// `<task id>/<container>`.
    label: String,
    group: String,
    stream: String,
    /// Where the next read starts (CloudWatch's forward token).
    token: Option<String>,
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        let dev = home.join(".flotilla").join("dev");
        if dev.join("credentials").exists() {
            dev
        } else {
            home.join(".flotilla").join("server")
        }
    });
    let env = AwsEnv::from_process();
    let endpoint = env.endpoint(args.endpoint.as_deref(), "ECS", "http://127.0.0.1:8720");
    let region = env.region(args.region.as_deref(), flotilla_server::DEFAULT_REGION);
    let keys = env.credentials(&data_dir).map_err(anyhow::Error::msg)?;
    let client = AwsClient::new(&endpoint, &region, keys);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        tokio::select! {
            result = show(&client, &args) => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

async fn show(client: &AwsClient, args: &LogsArgs) -> anyhow::Result<()> {
    let start_time = args.since.map(|since| {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(now.saturating_sub(since).as_millis()).unwrap_or(0)
    });
    let mut definitions = HashMap::new();
    let mut sources = resolve(client, args, &mut definitions).await?;
    if sources.is_empty() && !args.follow {
        anyhow::bail!(
            "no container of {} logs with the awslogs driver{}",
            what(args),
            args.container.as_deref().map(|c| format!(" named {c}")).unwrap_or_default()
        );
    }
    let colour = std::io::stdout().is_terminal();
    let mut resolved_at = Instant::now();
    loop {
        let mut lines = Vec::new();
        for (index, source) in sources.iter_mut().enumerate() {
            for (timestamp, message) in read_new(client, source, start_time).await? {
                lines.push((timestamp, index, message));
            }
        }
        // Streams interleave by time; each stream's order is kept (the sort is stable).
        lines.sort_by_key(|(timestamp, _, _)| *timestamp);
        let several = sources.len() > 1;
        let mut out = std::io::stdout().lock();
        for (_, index, message) in lines {
            let label = &sources[index].label;
            match (several, colour) {
                (false, _) => writeln!(out, "{message}")?,
                (true, false) => writeln!(out, "{label} | {message}")?,
                (true, true) => {
                    let code = COLOURS[index % COLOURS.len()];
                    writeln!(out, "\x1b[{code}m{label}\x1b[0m | {message}")?;
                }
            }
        }
        out.flush()?;
        drop(out);
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(POLL_EVERY).await;
        if args.service.is_some() && resolved_at.elapsed() >= RESOLVE_EVERY {
            resolved_at = Instant::now();
            for source in resolve(client, args, &mut definitions).await? {
                if !sources.iter().any(|s| s.group == source.group && s.stream == source.stream) {
                    sources.push(source);
                }
            }
        }
    }
}

fn what(args: &LogsArgs) -> String {
    match (&args.task, &args.service) {
        (Some(task), _) => format!("task {task}"),
        (_, Some(service)) => format!("service {service}"),
        _ => "the task".to_string(),
    }
}

/// The events of `source` after its token (from `start_time` on the first read).
async fn read_new(
    client: &AwsClient,
    source: &mut Source,
    start_time: Option<i64>,
) -> anyhow::Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    loop {
        let mut request = json!({
            "logGroupName": source.group,
            "logStreamName": source.stream,
            "startFromHead": true,
        });
        match (&source.token, start_time) {
            (Some(token), _) => request["nextToken"] = json!(token),
            (None, Some(start)) => request["startTime"] = json!(start),
            (None, None) => {}
        }
        let page = match client.call(LOGS, "GetLogEvents", &request).await {
            Ok(page) => page,
            // The stream appears with the container's first line.
            Err(e)
                if e.downcast_ref::<AwsError>()
                    .is_some_and(|e| e.code == "ResourceNotFoundException") =>
            {
                return Ok(out)
            }
            Err(e) => return Err(e),
        };
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            out.push((
                event["timestamp"].as_i64().unwrap_or(0),
                event["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let next = page["nextForwardToken"].as_str().map(str::to_string);
        let done = events.is_empty() || next.is_none() || next == source.token;
        if next.is_some() {
            source.token = next;
        }
        if done {
            return Ok(out);
        }
    }
}

/// The log streams of the task or the service's running tasks.
async fn resolve(
    client: &AwsClient,
    args: &LogsArgs,
    definitions: &mut HashMap<String, Value>,
) -> anyhow::Result<Vec<Source>> {
    let task_ids: Vec<String> = match (&args.task, &args.service) {
        (Some(task), _) => vec![task.clone()],
        (None, Some(service)) => {
            let mut arns = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut request = json!({ "cluster": args.cluster, "serviceName": service });
                if let Some(token) = &token {
                    request["nextToken"] = json!(token);
                }
                let page = client.call(ECS, "ListTasks", &request).await?;
                arns.extend(
                    page["taskArns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str())
                        .map(str::to_string),
                );
                token = page["nextToken"].as_str().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            arns
        }
        (None, None) => anyhow::bail!("give --task or --service"),
    };
    let mut sources = Vec::new();
    for chunk in task_ids.chunks(100) {
        let described = client
            .call(ECS, "DescribeTasks", &json!({ "cluster": args.cluster, "tasks": chunk }))
            .await?;
        if let Some(failure) = described["failures"].as_array().and_then(|f| f.first()) {
            if args.task.is_some() {
                anyhow::bail!(
                    "task {}: {}",
                    failure["arn"].as_str().unwrap_or_default(),
                    failure["reason"].as_str().unwrap_or("not found")
                );
            }
        }
        for task in described["tasks"].as_array().into_iter().flatten() {
            let arn = task["taskArn"].as_str().unwrap_or_default();
            let task_id = arn.rsplit('/').next().unwrap_or(arn).to_string();
            let definition_arn = task["taskDefinitionArn"].as_str().unwrap_or_default().to_string();
            if !definitions.contains_key(&definition_arn) {
                let described = client
                    .call(
                        ECS,
                        "DescribeTaskDefinition",
                        &json!({ "taskDefinition": definition_arn }),
                    )
                    .await?;
                definitions.insert(definition_arn.clone(), described["taskDefinition"].clone());
            }
            let runtime_ids: BTreeMap<&str, &str> = task["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["name"].as_str()?, c["runtimeId"].as_str()?)))
                .collect();
            for container in definitions[&definition_arn]["containerDefinitions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = container["name"].as_str().unwrap_or_default();
                if args.container.as_deref().is_some_and(|wanted| wanted != name) {
                    continue;
                }
                let log = &container["logConfiguration"];
                if log["logDriver"] != "awslogs" {
                    continue;
                }
                let Some(group) = log["options"]["awslogs-group"].as_str() else { continue };
                let stream = match log["options"]["awslogs-stream-prefix"].as_str() {
                    Some(prefix) if !prefix.is_empty() => format!("{prefix}/{name}/{task_id}"),
                    // Without a prefix the stream is the Docker container's id.
                    _ => match runtime_ids.get(name) {
                        Some(id) => id.to_string(),
                        None => continue,
                    },
                };
                let short = &task_id[..task_id.len().min(8)];
                sources.push(Source {
                    label: format!("{short}/{name}"),
                    group: group.to_string(),
                    stream,
                    token: None,
                });
            }
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_minutes_hours_days() {
        assert_eq!(parse_since("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_since("45"), Ok(Duration::from_secs(45)));
        assert!(parse_since("10w").is_err());
        assert!(parse_since("m").is_err());
    }
}
