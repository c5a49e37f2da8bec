//! Metrics end to end: `GET /metrics` read by Prometheus' own text parser (Python's
//! `prometheus_client`), the API request counter, and the CloudWatch metrics API
//! (GetMetricStatistics, GetMetricData, ListMetrics) over AWS JSON 1.0, the query protocol and
//! botocore, on the figures of a cluster of hollow agents — and, with a real agent and Docker, a
//! service's utilization from the agent's samples.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::fleet::{demo, Fleet};
use crate::support::{raw_http_with_head, Flotilla, HollowAgents, SignedRaw, REGION};

const JSON_1_0: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// One sample of the exposition, as the Python parser read it.
#[derive(Debug)]
struct Sample {
    family_type: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// `GET /metrics`: the Content-Type and the samples, parsed by
/// `prometheus_client.parser.text_string_to_metric_families` (which refuses malformed text).
fn scrape(f: &Flotilla) -> (String, Vec<Sample>) {
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, head, body) =
        raw_http_with_head(f.port, request.as_bytes()).expect("GET /metrics");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let content_type = header(&head, "content-type");
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = []\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in family.samples:\n\
        \x20       out.append({'type': family.type, 'name': s.name, 'labels': s.labels, 'value': s.value})\n\
        print(json.dumps(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (with prometheus_client: pip install prometheus_client)");
    child.stdin.take().expect("stdin").write_all(&body).expect("write the exposition");
    let output = child.wait_with_output().expect("python3 output");
    assert!(
        output.status.success(),
        "prometheus_client could not parse /metrics (is it installed? pip install prometheus_client): {}\n--- text ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&body)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("parser output");
    let samples = parsed
        .into_iter()
        .map(|s| Sample {
            family_type: s["type"].as_str().unwrap_or_default().to_string(),
            name: s["name"].as_str().unwrap_or_default().to_string(),
            labels: serde_json::from_value(s["labels"].clone()).expect("labels"),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();
    (content_type, samples)
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The value of the sample named `name` whose labels include `labels`.
fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_text_parses_and_counts_api_requests() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.create_cluster().cluster_name("counted").send().await.expect("create cluster");
    for _ in 0..3 {
        ecs.list_clusters().send().await.expect("list clusters");
    }
    let (status, _) = f.signed_call("NoSuchOperation", b"{}");
    assert_eq!(status, 400);
    let (status, _) = f.signed_call("AnotherMadeUpOperation", b"{}");
    assert_eq!(status, 400);
    // Refused before dispatch, but ListClusters is a known operation by now.
    let (id, _) = f.root_key();
    let forged =
        SignedRaw::new("ListClusters", b"{}").sign(&id, "wrong", REGION, SystemTime::now());
    let (status, _) = crate::support::raw_http(f.port, &forged.to_bytes()).expect("forged request");
    assert_eq!(status, 403);

    let (content_type, samples) = scrape(&f);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let requests = |operation: &str, code: &str| {
        value_of(
            &samples,
            "flotilla_api_requests_total",
            &[("service", "ecs"), ("operation", operation), ("code", code)],
        )
    };
    assert_eq!(requests("ListClusters", "200"), Some(3.0));
    assert_eq!(requests("CreateCluster", "200"), Some(1.0));
    assert_eq!(requests("ListClusters", "403"), Some(1.0));
    assert_eq!(requests("unknown", "400"), Some(2.0), "made-up operations share one label");
    assert!(
        samples
            .iter()
            .all(|s| !s.labels.values().any(|v| v.contains("MadeUp") || v.contains("NoSuch"))),
        "client strings never become labels"
    );
    let counter =
        samples.iter().find(|s| s.name == "flotilla_api_requests_total").expect("counter");
    assert_eq!(counter.family_type, "counter");

    let list = [("service", "ecs"), ("operation", "ListClusters")];
    let count = value_of(&samples, "flotilla_api_request_duration_seconds_count", &list);
    assert_eq!(count, Some(4.0));
    let mut inf = list.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(value_of(&samples, "flotilla_api_request_duration_seconds_bucket", &inf), Some(4.0));
    let mut tiny = list.to_vec();
    tiny.push(("le", "10"));
    assert_eq!(
        value_of(&samples, "flotilla_api_request_duration_seconds_bucket", &tiny),
        Some(4.0)
    );
    let sum = value_of(&samples, "flotilla_api_request_duration_seconds_sum", &list).expect("sum");
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    let histogram = samples
        .iter()
        .find(|s| s.name == "flotilla_api_request_duration_seconds_bucket")
        .expect("histogram");
    assert_eq!(histogram.family_type, "histogram");
    assert_eq!(value_of(&samples, "flotilla_agents_connected", &[]), Some(0.0));
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A signed AWS JSON 1.0 CloudWatch call: status, response head, JSON body.
fn cloudwatch_json(f: &Flotilla, operation: &str, body: &Value) -> (u16, String, Value) {
    let (id, secret) = f.root_key();
    let target = format!("{TARGET_PREFIX}{operation}");
    let request = SignedRaw::for_service(
        "monitoring",
        &[("content-type", JSON_1_0), ("x-amz-target", &target)],
        body.to_string().as_bytes(),
    )
    .sign(&id, &secret, REGION, SystemTime::now());
    let (status, head, body) = raw_http_with_head(f.port, &request.to_bytes()).expect("http");
    (status, head, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A query-protocol CloudWatch call (form body, XML answer), signed unless `sign` is false.
fn cloudwatch_query(f: &Flotilla, params: &[(&str, String)], sign: bool) -> (u16, String, String) {
    let form: Vec<String> =
        params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let body = form.join("&");
    let mut request = SignedRaw::for_service(
        "monitoring",
        &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
        body.as_bytes(),
    );
    if sign {
        let (id, secret) = f.root_key();
        request = request.sign(&id, &secret, REGION, SystemTime::now());
    }
    let (status, head, body) = raw_http_with_head(f.port, &request.to_bytes()).expect("http");
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn iso(seconds: f64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Polls GetMetricStatistics (JSON) until the metric has a datapoint; returns the answer.
fn wait_for_datapoints(f: &Flotilla, metric: &str, dimensions: Value, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let t = now();
        let (status, head, body) = cloudwatch_json(
            f,
            "GetMetricStatistics",
            &json!({
                "Namespace": "AWS/ECS",
                "MetricName": metric,
                "Dimensions": dimensions,
                "StartTime": t - 900.0,
                "EndTime": t + 60.0,
                "Period": 60,
                "Statistics": ["Average", "Minimum", "Maximum", "SampleCount"],
            }),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&head, "content-type"), JSON_1_0);
        if body["Datapoints"].as_array().is_some_and(|d| !d.is_empty()) {
            return body;
        }
        assert!(Instant::now() < deadline, "no {metric} datapoint for {dimensions} in {limit:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_serves_cluster_reservation_over_json_query_and_botocore() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let cluster = "hollow";
    ecs.create_cluster().cluster_name(cluster).send().await.expect("create cluster");
    let _agents = HollowAgents::start(&f, cluster, 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ecs
        .list_container_instances()
        .cluster(cluster)
        .send()
        .await
        .expect("list instances")
        .container_instance_arns()
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "hollow agents did not register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let definition = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("hollow")
        .cpu(256)
        .memory(512)
        .build();
    ecs.register_task_definition()
        .family("reserve")
        .container_definitions(definition)
        .send()
        .await
        .expect("register");
    let run = ecs
        .run_task()
        .cluster(cluster)
        .task_definition("reserve")
        .count(4)
        .send()
        .await
        .expect("run tasks");
    assert_eq!(run.tasks().len(), 4, "{:?}", run.failures());

    // 4 × 256 CPU of 2 × 4096 registered; 4 × 512 MiB of 2 × 16384.
    let cluster_dims = json!([{"Name": "ClusterName", "Value": cluster}]);
    let cpu =
        wait_for_datapoints(&f, "CPUReservation", cluster_dims.clone(), Duration::from_secs(30));
    assert_eq!(cpu["Label"], "CPUReservation");
    let point = &cpu["Datapoints"][0];
    assert_eq!(point["Average"], 12.5, "{cpu}");
    assert_eq!(point["Maximum"], 12.5, "{cpu}");
    assert_eq!(point["Unit"], "Percent");
    assert!(point["SampleCount"].as_f64().is_some_and(|n| n >= 1.0), "{cpu}");
    let minute = point["Timestamp"].as_f64().expect("epoch seconds");
    assert_eq!(minute % 60.0, 0.0, "datapoints are per minute");

    // The same through the query protocol.
    let t = now();
    let (status, head, xml) = cloudwatch_query(
        &f,
        &[
            ("Action", "GetMetricStatistics".into()),
            ("Version", "2010-08-01".into()),
            ("Namespace", "AWS/ECS".into()),
            ("MetricName", "MemoryReservation".into()),
            ("Dimensions.member.1.Name", "ClusterName".into()),
            ("Dimensions.member.1.Value", cluster.into()),
            ("StartTime", iso(t - 900.0)),
            ("EndTime", iso(t + 60.0)),
            ("Period", "300".into()),
            ("Statistics.member.1", "Average".into()),
        ],
        true,
    );
    assert_eq!(status, 200, "{xml}");
    assert!(header(&head, "content-type").starts_with("text/xml"), "{head}");
    assert!(xml.contains(&format!("<GetMetricStatisticsResponse xmlns=\"{XMLNS}\">")), "{xml}");
    assert!(xml.contains("<Label>MemoryReservation</Label>"), "{xml}");
    assert!(xml.contains("<Average>6.25</Average>"), "{xml}");
    assert!(xml.contains("<Unit>Percent</Unit>"), "{xml}");
    assert!(xml.contains("<Timestamp>20"), "ISO 8601 timestamps: {xml}");
    assert!(xml.contains("<RequestId>"), "{xml}");

    // GetMetricData: two MetricStat queries, newest first, one not returned.
    let stat = |metric: &str, stat: &str| {
        json!({"Metric": {"Namespace": "AWS/ECS", "MetricName": metric, "Dimensions": cluster_dims},
               "Period": 60, "Stat": stat})
    };
    let (status, _, data) = cloudwatch_json(
        &f,
        "GetMetricData",
        &json!({
            "StartTime": t - 900.0,
            "EndTime": t + 60.0,
            "MetricDataQueries": [
                {"Id": "cpu", "MetricStat": stat("CPUReservation", "Average"), "Label": "cpu reserved"},
                {"Id": "memory", "MetricStat": stat("MemoryReservation", "Maximum")},
                {"Id": "hidden", "MetricStat": stat("CPUReservation", "Sum"), "ReturnData": false},
            ],
        }),
    );
    assert_eq!(status, 200, "{data}");
    let results = data["MetricDataResults"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{data}");
    assert_eq!(results[0]["Id"], "cpu");
    assert_eq!(results[0]["Label"], "cpu reserved");
    assert_eq!(results[0]["StatusCode"], "Complete");
    assert_eq!(results[0]["Values"][0], 12.5);
    assert_eq!(results[1]["Label"], "MemoryReservation");
    assert_eq!(results[1]["Values"][0], 6.25);
    let stamps: Vec<f64> = results[0]["Timestamps"]
        .as_array()
        .expect("timestamps")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] > w[1]), "newest first: {stamps:?}");

    // ListMetrics: the cluster's four-or-fewer series (utilization needs samples: none here).
    let (status, _, listed) = cloudwatch_json(
        &f,
        "ListMetrics",
        &json!({"Namespace": "AWS/ECS", "Dimensions": [{"Name": "ClusterName", "Value": cluster}]}),
    );
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["Metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["MetricName"].as_str())
        .collect();
    assert!(names.contains(&"CPUReservation") && names.contains(&"MemoryReservation"), "{listed}");
    assert!(!names.contains(&"CPUUtilization"), "hollow agents send no samples: {listed}");

    // Errors: JSON with the query-compatible code, query protocol in XML.
    let (status, head, error) = cloudwatch_json(
        &f,
        "GetMetricStatistics",
        &json!({"Namespace": "AWS/ECS", "MetricName": "CPUReservation", "StartTime": t - 60.0,
                "EndTime": t, "Period": 61, "Statistics": ["Average"]}),
    );
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "InvalidParameterValueException", "{error}");
    // The head comes lowercased.
    assert_eq!(header(&head, "x-amzn-query-error"), "invalidparametervalue;sender");
    let (status, _, error) = cloudwatch_json(
        &f,
        "GetMetricData",
        &json!({"StartTime": t - 60.0, "EndTime": t,
                "MetricDataQueries": [{"Id": "e1", "Expression": "SUM(METRICS())"}]}),
    );
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "ValidationException", "GetMetricData models no other: {error}");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("not supported")), "{error}");
    // Clients' numbers far out of range are errors, not overflows: a StartTime of 1e19 s, a
    // NextToken offset of u64::MAX.
    let (status, _, error) = cloudwatch_json(
        &f,
        "GetMetricStatistics",
        &json!({"Namespace": "AWS/ECS", "MetricName": "CPUReservation", "StartTime": 1e19,
                "EndTime": 2e19, "Period": 60, "Statistics": ["Average"]}),
    );
    assert_eq!((status, error["__type"].as_str()), (400, Some("InvalidParameterValueException")));
    let (status, _, error) = cloudwatch_json(
        &f,
        "ListMetrics",
        &json!({"NextToken": "flotilla-metrics-18446744073709551615"}),
    );
    assert_eq!((status, error["__type"].as_str()), (400, Some("InvalidNextToken")), "{error}");
    let (status, _, error) = cloudwatch_json(&f, "PutMetricData", &json!({}));
    assert_eq!((status, error["__type"].as_str()), (400, Some("UnknownOperationException")));
    let (status, _, xml) = cloudwatch_query(
        &f,
        &[("Action", "GetMetricStatistics".into()), ("Version", "2010-08-01".into())],
        true,
    );
    assert_eq!(status, 400, "{xml}");
    assert!(
        xml.contains("<Code>MissingParameter</Code>") && xml.contains("<Type>Sender</Type>"),
        "{xml}"
    );
    let (status, _, xml) = cloudwatch_query(
        &f,
        &[("Action", "ListMetrics".into()), ("Version", "2010-08-01".into())],
        false,
    );
    assert_eq!(status, 403, "{xml}");
    assert!(xml.contains("<Code>MissingAuthenticationToken</Code>"), "{xml}");
    let (status, _, xml) = cloudwatch_query(
        &f,
        &[("Action", "ListMetrics".into()), ("Version", "2011-01-01".into())],
        true,
    );
    assert_eq!(status, 400, "{xml}");
    assert!(xml.contains("<Code>InvalidAction</Code>"), "{xml}");

    // Prometheus sees the same cluster.
    let (_, samples) = scrape(&f);
    let on = [("cluster", cluster)];
    assert_eq!(value_of(&samples, "flotilla_cluster_cpu_reservation_percent", &on), Some(12.5));
    assert_eq!(value_of(&samples, "flotilla_cluster_memory_reservation_percent", &on), Some(6.25));
    assert_eq!(
        value_of(&samples, "flotilla_tasks", &[("cluster", cluster), ("last_status", "RUNNING")]),
        Some(4.0)
    );
    assert_eq!(
        value_of(
            &samples,
            "flotilla_container_instances",
            &[("cluster", cluster), ("status", "ACTIVE")]
        ),
        Some(2.0)
    );
    assert_eq!(value_of(&samples, "flotilla_agents_connected", &[]), Some(2.0));
    assert_eq!(
        value_of(
            &samples,
            "flotilla_api_requests_total",
            &[("service", "monitoring"), ("operation", "GetMetricStatistics"), ("code", "200")]
        )
        .map(|n| n >= 2.0),
        Some(true)
    );

    // botocore (what the AWS CLI runs) against the model: every answer validated.
    crate::conformance::run_model_check("check_cloudwatch_model.py", &f, &["--cluster", cluster]);
}

/// A real agent runs a service's task: its samples become the service's utilization, and CPU
/// burnt in the container shows in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agents_samples_become_service_utilization() {
    let fleet = Fleet::start().await;
    let port = aws_sdk_ecs::types::PortMapping::builder().container_port(8080).host_port(0).build();
    let web = demo("web", &["serve"]).cpu(256).port_mappings(port).build();
    let td = fleet.register("metered", vec![web]).await;
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("metered")
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await
        .expect("create service");
    let f = &fleet.server;
    let dims = json!([
        {"Name": "ServiceName", "Value": "metered"},
        {"Name": "ClusterName", "Value": fleet.cluster},
    ]);
    let memory = wait_for_datapoints(f, "MemoryUtilization", dims.clone(), Duration::from_secs(40));
    let point = &memory["Datapoints"][0];
    let average = point["Average"].as_f64().expect("average");
    // The demo server holds a few MiB of its 64 MiB reservation.
    assert!(average > 0.0 && average < 100.0, "{memory}");
    let cpu = wait_for_datapoints(f, "CPUUtilization", dims.clone(), Duration::from_secs(20));
    let average = cpu["Datapoints"][0]["Average"].as_f64().expect("average");
    assert!((0.0..=400.0).contains(&average), "{cpu}");
    println!("service utilization: memory {memory}, cpu {cpu}");

    let (_, samples) = scrape(f);
    let bytes = samples
        .iter()
        .find(|s| {
            s.name == "flotilla_task_memory_bytes"
                && s.labels.get("group").map(String::as_str) == Some("service:metered")
        })
        .map(|s| s.value);
    assert!(bytes.is_some_and(|b| b > 0.0), "task memory gauge: {bytes:?}");
    let service = [("cluster", fleet.cluster.as_str()), ("service", "metered")];
    let percent = value_of(&samples, "flotilla_service_memory_utilization_percent", &service);
    assert!(percent.is_some_and(|p| p > 0.0), "{percent:?}");

    // Burn one core for ~24 s: a sample covering it is far above the idle server's few percent
    // (one busy core is 1024 units, 400 % of the 256 reserved; 50 % leaves room for a loaded
    // test machine).
    let tasks = fleet.service_tasks("metered", &[aws_sdk_ecs::types::DesiredStatus::Running]).await;
    let host_port = tasks
        .first()
        .and_then(|t| t.containers().first())
        .and_then(|c| c.network_bindings().first())
        .and_then(|b| b.host_port())
        .expect("the task's host port") as u16;
    let burner = std::thread::spawn(move || {
        for _ in 0..3 {
            crate::support::http_get_retry(host_port, "/burn?ms=8000", Duration::from_secs(5));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    let peak = loop {
        let t = now();
        let (status, _, body) = cloudwatch_json(
            f,
            "GetMetricStatistics",
            &json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": dims,
                    "StartTime": t - 120.0, "EndTime": t + 60.0, "Period": 60,
                    "Statistics": ["Maximum"]}),
        );
        assert_eq!(status, 200, "{body}");
        let peak = body["Datapoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["Maximum"].as_f64())
            .fold(0.0, f64::max);
        if peak >= 50.0 {
            break peak;
        }
        assert!(Instant::now() < deadline, "no CPU burn seen in CPUUtilization: {body}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!("CPUUtilization peak while burning: {peak:.1} %");
    let _ = burner.join();
}
