//! Tests of task definitions: a table of valid and invalid registrations, the cpu/memory parsers,
//! wire round trips, the built definition, and properties of validation.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::units::{fargate_pair_is_valid, parse_task_cpu, parse_task_memory};
use super::*;
use crate::error::ErrorCode;

fn request(value: Value) -> TaskDefinitionRegistration {
    serde_json::from_value(value).expect("test definitions are well-formed JSON shapes")
}

fn web() -> Value {
    json!({"name": "web", "image": "nginx", "memory": 256})
}

/// A one-container EC2 definition with `extra` merged into the task level.
fn task(extra: Value) -> Value {
    merged(json!({"family": "app", "containerDefinitions": [web()]}), extra)
}

/// A definition with these containers and `extra` at the task level.
fn containers(list: Value, extra: Value) -> Value {
    let mut t = task(extra);
    t["containerDefinitions"] = list;
    t
}

enum Expect {
    Valid,
    /// The error code and text that must appear in the message.
    Invalid(ErrorCode, &'static str),
}
use Expect::{Invalid, Valid};

const CLIENT: ErrorCode = ErrorCode::ClientException;
const PARAM: ErrorCode = ErrorCode::InvalidParameterException;

fn cases() -> Vec<(&'static str, Value, Expect)> {
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("c{i}"), "image": "busybox", "memory": 16}))
        .collect();
    let constraints: Vec<Value> =
        (0..11).map(|_| json!({"type": "memberOf", "expression": "attribute:a == b"})).collect();
    vec![
        ("minimal", task(json!({})), Valid),
        (
            "task memory instead of container memory",
            containers(json!([{"name": "web", "image": "nginx"}]), json!({"memory": "512"})),
            Valid,
        ),
        (
            "fargate",
            task(json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                        "cpu": "256", "memory": "512"})),
            Valid,
        ),
        (
            "fargate with unit forms",
            task(json!({"requiresCompatibilities": ["FARGATE", "EC2"], "networkMode": "awsvpc",
                        "cpu": "1 vCPU", "memory": "2 GB"})),
            Valid,
        ),
        (
            "bridge with links, dynamic ports and a healthy dependency",
            containers(
                json!([
                    {"name": "db", "image": "postgres", "memory": 512, "essential": false,
                     "healthCheck": {"command": ["CMD-SHELL", "pg_isready"]},
                     "portMappings": [{"containerPort": 5432}]},
                    {"name": "web", "image": "nginx", "memory": 256, "links": ["db:database"],
                     "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}],
                     "portMappings": [{"containerPort": 80, "hostPort": 8080},
                                      {"containerPort": 81, "hostPort": 0, "protocol": "udp"}]}
                ]),
                json!({"networkMode": "bridge"}),
            ),
            Valid,
        ),
        (
            "awsvpc with port range and matching host port",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 256,
                        "portMappings": [{"containerPort": 80, "hostPort": 80, "name": "http",
                                          "appProtocol": "http"},
                                         {"containerPortRange": "9000-9010"}]}]),
                json!({"networkMode": "awsvpc"}),
            ),
            Valid,
        ),
        (
            "volumes, mount points and volumesFrom",
            containers(
                json!([
                    {"name": "data", "image": "busybox", "memory": 16, "essential": false,
                     "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/s"}]},
                    {"name": "web", "image": "nginx", "memory": 256,
                     "volumesFrom": [{"sourceContainer": "data", "readOnly": true}]}
                ]),
                json!({"volumes": [{"name": "scratch", "host": {"sourcePath": "/tmp"}},
                                   {"name": "shared", "dockerVolumeConfiguration":
                                        {"scope": "shared", "autoprovision": true}}]}),
            ),
            Valid,
        ),
        ("empty family", task(json!({"family": ""})), Invalid(CLIENT, "family is required")),
        (
            "bad family",
            task(json!({"family": "my app!"})),
            Invalid(CLIENT, "family 'my app!' must be 1 to 255 letters"),
        ),
        (
            "long family",
            task(json!({"family": "f".repeat(256)})),
            Invalid(CLIENT, "must be 1 to 255 letters, digits, hyphens and underscores"),
        ),
        (
            "no containers",
            containers(json!([]), json!({})),
            Invalid(CLIENT, "at least one container definition is required"),
        ),
        (
            "eleven containers",
            containers(Value::Array(eleven), json!({})),
            Invalid(CLIENT, "too many containers: 11 given, at most 10 allowed"),
        ),
        (
            "duplicate container names",
            containers(json!([web(), web()]), json!({})),
            Invalid(CLIENT, "container name 'web' is used more than once"),
        ),
        (
            "unnamed container",
            containers(json!([{"image": "nginx", "memory": 64}]), json!({})),
            Invalid(CLIENT, "container #1: Container.name should not be null or empty."),
        ),
        (
            "bad container name",
            containers(json!([{"name": "web/1", "image": "nginx", "memory": 64}]), json!({})),
            Invalid(CLIENT, "container 'web/1': name must be 1 to 255 letters"),
        ),
        (
            "no image",
            containers(json!([{"name": "web", "memory": 64}]), json!({})),
            Invalid(CLIENT, "container 'web': image is required"),
        ),
        (
            "blank image",
            containers(json!([{"name": "web", "image": " ", "memory": 64}]), json!({})),
            Invalid(CLIENT, "container 'web': image is required"),
        ),
        (
            "tiny memory",
            containers(json!([{"name": "web", "image": "nginx", "memory": 4}]), json!({})),
            Invalid(CLIENT, "container 'web': memory (4) must be at least 6 MiB"),
        ),
        (
            "tiny reservation",
            containers(json!([{"name": "web", "image": "nginx", "memoryReservation": 5}]), json!({})),
            Invalid(CLIENT, "container 'web': memoryReservation (5) must be at least 6 MiB"),
        ),
        (
            "no memory on EC2",
            containers(json!([{"name": "web", "image": "nginx"}]), json!({})),
            Invalid(CLIENT, "container 'web': at least one of memory or memoryReservation"),
        ),
        (
            "no memory on EXTERNAL",
            containers(
                json!([{"name": "web", "image": "nginx"}]),
                json!({"requiresCompatibilities": ["EXTERNAL"]}),
            ),
            Invalid(CLIENT, "at least one of memory or memoryReservation must be specified"),
        ),
        (
            "reservation above memory",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 256, "memoryReservation": 512}]),
                json!({}),
            ),
            Invalid(CLIENT, "memoryReservation (512) must not be greater than memory (256)"),
        ),
        (
            "negative cpu",
            containers(json!([{"name": "web", "image": "nginx", "memory": 64, "cpu": -1}]), json!({})),
            Invalid(CLIENT, "container 'web': cpu (-1) must not be negative"),
        ),
        (
            "container memory above task memory",
            containers(json!([{"name": "web", "image": "nginx", "memory": 1024}]), json!({"memory": "512"})),
            Invalid(CLIENT, "container 'web': memory (1024) is greater than the task memory (512)"),
        ),
        (
            "container memory adds up past task memory",
            containers(
                json!([{"name": "a", "image": "x", "memory": 300},
                       {"name": "b", "image": "x", "memoryReservation": 300, "memory": 400}]),
                json!({"memory": "512"}),
            ),
            Invalid(CLIENT, "memory reservations add up to 600 MiB, more than the task memory (512 MiB)"),
        ),
        (
            "container cpu adds up past task cpu",
            containers(
                json!([{"name": "a", "image": "x", "memory": 64, "cpu": 512},
                       {"name": "b", "image": "x", "memory": 64, "cpu": 768}]),
                json!({"cpu": "1 vCPU"}),
            ),
            Invalid(CLIENT, "cpu adds up to 1280, more than the task cpu (1024)"),
        ),
        (
            "task cpu too small for EC2",
            task(json!({"cpu": "64"})),
            Invalid(CLIENT, "task cpu (64) must be between 128 and 196608 units"),
        ),
        (
            "task cpu too large for EC2",
            task(json!({"cpu": "200 vCPU"})),
            Invalid(CLIENT, "task cpu (204800) must be between 128 and 196608 units"),
        ),
        ("task cpu garbage", task(json!({"cpu": "lots"})), Invalid(CLIENT, "task cpu: 'lots' is neither")),
        (
            "task memory garbage",
            task(json!({"memory": "2 TB"})),
            Invalid(CLIENT, "task memory: '2 TB' is neither MiB nor GB"),
        ),
        ("task memory zero", task(json!({"memory": "0"})), Invalid(CLIENT, "task memory must be more than 0")),
        (
            "secrets with an execution role",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "secrets": [{"name": "A", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"},
                                    {"name": "B", "valueFrom": "/app/db"},
                                    {"name": "C", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/db"}],
                        "logConfiguration": {"logDriver": "splunk", "secretOptions":
                            [{"name": "splunk-token", "valueFrom": "splunk-token"}]}}]),
                json!({"executionRoleArn": "arn:aws:iam::123456789012:role/exec"}),
            ),
            Valid,
        ),
        (
            "secrets without an execution role",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "secrets": [{"name": "A", "valueFrom": "/app/db"}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."),
        ),
        (
            "secrets naming nothing usable",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "secrets": [{"name": "A", "valueFrom": "arn:aws:s3:::bucket/key"},
                                    {"name": "A", "valueFrom": "/x"}]}]),
                json!({"executionRoleArn": "arn:aws:iam::123456789012:role/exec"}),
            ),
            Invalid(CLIENT, "container 'web': secrets: valueFrom 'arn:aws:s3:::bucket/key' of 'A' is neither a Secrets Manager secret ARN nor a Parameter Store parameter name or ARN; container 'web': secrets: the name 'A' is used more than once"),
        ),
        (
            "secret options of the awslogs driver",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"},
                            "secretOptions": [{"name": "x", "valueFrom": "/x"}]}}]),
                json!({"executionRoleArn": "arn:aws:iam::123456789012:role/exec"}),
            ),
            Invalid(CLIENT, "logConfiguration.secretOptions is not supported yet with the awslogs log driver"),
        ),
        (
            "fargate awslogs without an execution role",
            containers(
                json!([{"name": "web", "image": "nginx",
                        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}}]),
                json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                       "cpu": "256", "memory": "512"}),
            ),
            Invalid(CLIENT, "Fargate requires task definition to have execution role ARN to support log driver awslogs."),
        ),
        (
            "fargate in bridge mode",
            task(json!({"requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512"})),
            Invalid(CLIENT, "Fargate only supports network mode \u{2018}awsvpc\u{2019}."),
        ),
        (
            "fargate without size",
            task(json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc"})),
            Invalid(CLIENT, "Fargate requires that 'cpu' be defined at the task level.; Fargate requires that 'memory' be defined at the task level."),
        ),
        (
            "fargate with a size it lacks",
            task(json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                        "cpu": "256", "memory": "4096"})),
            Invalid(CLIENT, "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."),
        ),
        (
            "fargate with what it does not support",
            containers(
                json!([{"name": "web", "image": "x", "privileged": true,
                        "linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}], "sharedMemorySize": 64}}]),
                json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
                       "memory": "512", "ipcMode": "host", "pidMode": "host",
                       "placementConstraints": [{"type": "memberOf", "expression": "attribute:a == b"}],
                       "volumes": [{"name": "v", "host": {"sourcePath": "/data"}}]}),
            ),
            Invalid(CLIENT, "Tasks using the Fargate launch type do not support ipcMode.; \
                Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.; \
                Fargate compatible task definitions do not support constraints; \
                Fargate compatible task definitions do not support sourcePath; \
                Fargate compatible task definitions do not support privileged; \
                Fargate compatible task definitions do not support devices; \
                Fargate compatible task definitions do not support sharedMemorySize"),
        ),
        (
            "fargate windows below one vCPU",
            task(json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                        "cpu": "512", "memory": "1024",
                        "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}})),
            Invalid(CLIENT, "Windows containers on FARGATE need a task cpu of at least 1024"),
        ),
        (
            "fargate stop timeout",
            containers(
                json!([{"name": "web", "image": "nginx", "stopTimeout": 300}]),
                json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                       "cpu": "256", "memory": "512"}),
            ),
            Invalid(CLIENT, "container 'web': stopTimeout (300) must be between 2 and 120 seconds"),
        ),
        (
            "unknown network mode",
            task(json!({"networkMode": "overlay"})),
            Invalid(PARAM, "networkMode 'overlay' is not one of bridge, host, awsvpc, none"),
        ),
        (
            "unknown compatibility",
            task(json!({"requiresCompatibilities": ["LAMBDA"]})),
            Invalid(PARAM, "requiresCompatibilities value 'LAMBDA' is not one of"),
        ),
        ("unknown pid mode", task(json!({"pidMode": "container"})), Invalid(PARAM, "pidMode 'container'")),
        ("unknown ipc mode", task(json!({"ipcMode": "shareable"})), Invalid(PARAM, "ipcMode 'shareable'")),
        (
            "unknown cpu architecture",
            task(json!({"runtimePlatform": {"cpuArchitecture": "RISCV"}})),
            Invalid(PARAM, "runtimePlatform.cpuArchitecture 'RISCV'"),
        ),
        (
            "dependency on an unknown container",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "dependsOn": [{"containerName": "db", "condition": "START"}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "container 'web': dependsOn[0].containerName 'db' is not a container of the task"),
        ),
        (
            "dependency on itself",
            containers(
                json!([{"name": "web", "image": "nginx", "memory": 64,
                        "dependsOn": [{"containerName": "web", "condition": "START"}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "container 'web': dependsOn names the container itself"),
        ),
        (
            "unknown dependency condition",
            containers(
                json!([web(), {"name": "side", "image": "x", "memory": 64,
                        "dependsOn": [{"containerName": "web", "condition": "READY"}]}]),
                json!({}),
            ),
            Invalid(PARAM, "container 'side': dependsOn[0].condition 'READY' is not one of START, COMPLETE, SUCCESS, HEALTHY"),
        ),
        (
            "dependency cycle",
            containers(
                json!([
                    {"name": "a", "image": "x", "memory": 64,
                     "dependsOn": [{"containerName": "b", "condition": "START"}]},
                    {"name": "b", "image": "x", "memory": 64,
                     "dependsOn": [{"containerName": "c", "condition": "START"}]},
                    {"name": "c", "image": "x", "memory": 64,
                     "dependsOn": [{"containerName": "a", "condition": "COMPLETE"}]}
                ]),
                json!({}),
            ),
            Invalid(CLIENT, "containers depend on each other in a cycle: a -> b -> c -> a"),
        ),
        (
            "cycle through links and volumesFrom",
            containers(
                json!([
                    {"name": "a", "image": "x", "memory": 64, "links": ["b"]},
                    {"name": "b", "image": "x", "memory": 64, "volumesFrom": [{"sourceContainer": "a"}]}
                ]),
                json!({}),
            ),
            Invalid(CLIENT, "cycle: a -> b -> a"),
        ),
        (
            "healthy dependency without a health check",
            containers(
                json!([web(), {"name": "side", "image": "x", "memory": 64,
                        "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "container 'side': dependsOn 'web' with condition HEALTHY, but that container has no healthCheck"),
        ),
        (
            "links outside bridge mode",
            containers(
                json!([web(), {"name": "side", "image": "x", "memory": 64, "links": ["web"]}]),
                json!({"networkMode": "awsvpc"}),
            ),
            Invalid(CLIENT, "Links are not supported when networkMode=awsvpc."),
        ),
        (
            "hostname in awsvpc mode",
            containers(json!([{"name": "web", "image": "x", "memory": 64, "hostname": "h"}]),
                       json!({"networkMode": "awsvpc"})),
            Invalid(CLIENT, "hostname is not supported on container when networkMode=awsvpc."),
        ),
        (
            "extra hosts in awsvpc mode",
            containers(
                json!([{"name": "web", "image": "x", "memory": 64,
                        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}]}]),
                json!({"networkMode": "awsvpc"}),
            ),
            Invalid(CLIENT, "Extra hosts are not supported when networkMode=awsvpc."),
        ),
        (
            "link to an unknown container",
            containers(json!([{"name": "web", "image": "x", "memory": 64, "links": ["db:db"]}]), json!({})),
            Invalid(CLIENT, "container 'web': link 'db:db' names no container of the task"),
        ),
        (
            "container port zero",
            containers(json!([{"name": "web", "image": "x", "memory": 64, "portMappings": [{"containerPort": 0}]}]), json!({})),
            Invalid(CLIENT, "container 'web': portMappings[0].containerPort (0) must be between 1 and 65535"),
        ),
        (
            "host port out of range",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "hostPort": 70000}]}]), json!({})),
            Invalid(CLIENT, "portMappings[0].hostPort (70000) must be between 0 and 65535"),
        ),
        (
            "no container port",
            containers(json!([{"name": "web", "image": "x", "memory": 64, "portMappings": [{"hostPort": 80}]}]), json!({})),
            Invalid(CLIENT, "portMappings[0]: containerPort or containerPortRange is required"),
        ),
        (
            "awsvpc host port differs",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]),
                       json!({"networkMode": "awsvpc"})),
            Invalid(CLIENT, "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
        ),
        (
            "host mode host port differs",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "hostPort": 81}]}]),
                       json!({"networkMode": "host"})),
            Invalid(CLIENT, "in host network mode"),
        ),
        (
            "unknown protocol",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "protocol": "sctp"}]}]), json!({})),
            Invalid(PARAM, "container 'web': portMappings[0].protocol 'sctp' is not one of tcp, udp"),
        ),
        (
            "unknown app protocol",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "appProtocol": "http3"}]}]), json!({})),
            Invalid(PARAM, "portMappings[0].appProtocol 'http3'"),
        ),
        (
            "same host port twice",
            containers(
                json!([{"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 80}]},
                       {"name": "b", "image": "x", "memory": 64, "portMappings": [{"containerPort": 81, "hostPort": 80}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "host port 80/tcp of container 'b' overlaps host port 80/tcp of container 'a'"),
        ),
        (
            "awsvpc container ports clash",
            containers(
                json!([{"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 9005}]},
                       {"name": "b", "image": "x", "memory": 64, "portMappings": [{"containerPortRange": "9000-9010"}]}]),
                json!({"networkMode": "awsvpc"}),
            ),
            Invalid(CLIENT, "overlaps host port"),
        ),
        (
            "bad port range",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPortRange": "90-80"}]}]), json!({})),
            Invalid(CLIENT, "containerPortRange '90-80' must be 'first-last'"),
        ),
        (
            "port names used twice",
            containers(
                json!([{"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "name": "http"}]},
                       {"name": "b", "image": "x", "memory": 64, "portMappings": [{"containerPort": 81, "name": "http"}]}]),
                json!({}),
            ),
            Invalid(CLIENT, "port mapping name 'http' is used more than once"),
        ),
        (
            "bad port name",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80, "name": "-HTTP"}]}]), json!({})),
            Invalid(CLIENT, "portMappings[0].name '-HTTP' must be up to 64 lowercase letters"),
        ),
        (
            "ports in none mode",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "portMappings": [{"containerPort": 80}]}]), json!({"networkMode": "none"})),
            Invalid(CLIENT, "container 'web': port mappings are not allowed in network mode none"),
        ),
        (
            "health check without CMD",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "healthCheck": {"command": ["curl", "localhost"]}}]), json!({})),
            Invalid(CLIENT, "container 'web': healthCheck.command must start with CMD or CMD-SHELL, not 'curl'"),
        ),
        (
            "health check with nothing to run",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "healthCheck": {"command": ["CMD-SHELL"]}}]), json!({})),
            Invalid(CLIENT, "healthCheck.command needs the command to run after 'CMD-SHELL'"),
        ),
        (
            "health check intervals",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "healthCheck": {"command": ["CMD", "true"], "interval": 1,
                                               "timeout": 61, "retries": 0, "startPeriod": 301}}]), json!({})),
            Invalid(CLIENT, "healthCheck.interval (1) must be between 5 and 300"),
        ),
        (
            "mount of an unknown volume",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}]), json!({})),
            Invalid(CLIENT, "container 'web': mountPoints[0].sourceVolume 'data' is not a volume of the task"),
        ),
        (
            "volumes from an unknown container",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "volumesFrom": [{"sourceContainer": "data"}]}]), json!({})),
            Invalid(CLIENT, "volumesFrom[0].sourceContainer 'data' is not a container of the task"),
        ),
        (
            "duplicate volumes",
            task(json!({"volumes": [{"name": "v"}, {"name": "v"}]})),
            Invalid(CLIENT, "volume name 'v' is used more than once"),
        ),
        (
            "efs iam without encryption",
            task(json!({"volumes": [{"name": "v", "efsVolumeConfiguration": {
                "fileSystemId": "fs-1", "authorizationConfig": {"iam": "ENABLED"}}}]})),
            Invalid(CLIENT, "volume 'v': authorizationConfig.iam ENABLED requires transitEncryption ENABLED"),
        ),
        (
            "unknown ulimit",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "ulimits": [{"name": "files", "softLimit": 1, "hardLimit": 2}]}]), json!({})),
            Invalid(PARAM, "container 'web': ulimit name 'files' is not one of core, cpu"),
        ),
        (
            "unknown log driver",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "logConfiguration": {"logDriver": "stdout"}}]), json!({})),
            Invalid(PARAM, "logConfiguration.logDriver 'stdout'"),
        ),
        (
            "distinctInstance in a task definition",
            task(json!({"placementConstraints": [{"type": "distinctInstance"}]})),
            Invalid(CLIENT, "placementConstraints[0]: distinctInstance is not allowed in a task definition"),
        ),
        (
            "too many placement constraints",
            task(json!({"placementConstraints": constraints})),
            Invalid(CLIENT, "too many placement constraints: 11 given, at most 10 allowed"),
        ),
        (
            "reserved tag prefix",
            task(json!({"tags": [{"key": "aws:owner", "value": "x"}]})),
            Invalid(PARAM, "tag key 'aws:owner' uses the reserved prefix 'aws:'"),
        ),
        (
            "no essential container",
            containers(json!([{"name": "web", "image": "x", "memory": 64, "essential": false}]), json!({})),
            Invalid(CLIENT, "at least one container must be essential"),
        ),
        (
            "ephemeral storage too small",
            task(json!({"ephemeralStorage": {"sizeInGiB": 10}})),
            Invalid(CLIENT, "ephemeralStorage.sizeInGiB (10) must be between 21 and 200"),
        ),
        (
            "proxy for an unknown container",
            task(json!({"proxyConfiguration": {"type": "APPMESH", "containerName": "envoy"}})),
            Invalid(CLIENT, "proxyConfiguration.containerName 'envoy' is not a container of the task"),
        ),
        (
            "gpu count",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "resourceRequirements": [{"type": "GPU", "value": "two"}]}]), json!({})),
            Invalid(CLIENT, "GPU value 'two' must be a positive whole number"),
        ),
        (
            "restart attempt period",
            containers(json!([{"name": "web", "image": "x", "memory": 64,
                               "restartPolicy": {"enabled": true, "restartAttemptPeriod": 10}}]), json!({})),
            Invalid(CLIENT, "restartPolicy.restartAttemptPeriod (10) must be between 60 and 1800"),
        ),
    ]
}

#[test]
fn registration_table() {
    for (name, value, expect) in cases() {
        let result = validate_register(&request(value));
        match (expect, result) {
            (Valid, Ok(())) => {}
            (Valid, Err(e)) => panic!("{name}: expected valid, got {e}"),
            (Invalid(_, text), Ok(())) => panic!("{name}: expected an error containing {text:?}"),
            (Invalid(code, text), Err(e)) => {
                assert!(
                    e.message.contains(text),
                    "{name}: {:?} does not contain {text:?}",
                    e.message
                );
                assert_eq!(e.code, code, "{name}: {e}");
            }
        }
    }
}

#[test]
fn every_problem_is_reported() {
    let def = json!({
        "family": "bad family",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {"name": "web", "memory": 4, "links": ["db"],
             "portMappings": [{"containerPort": 80, "hostPort": 81, "protocol": "sctp"}],
             "dependsOn": [{"containerName": "ghost", "condition": "START"}],
             "healthCheck": {"command": ["CMD", "true"], "retries": 11}},
            {"name": "web", "image": "x", "memoryReservation": 64,
             "mountPoints": [{"sourceVolume": "nope"}]}
        ],
        "tags": [{"key": "aws:x"}]
    });
    let err = validate_register(&request(def)).expect_err("many problems");
    let expected = [
        "family 'bad family' must be 1 to 255 letters",
        "tag key 'aws:x' uses the reserved prefix",
        "container name 'web' is used more than once",
        "container 'web': image is required",
        "container 'web': memory (4) must be at least 6 MiB",
        "Links are not supported when networkMode=awsvpc.",
        "container 'web': link 'db' names no container of the task",
        "dependsOn[0].containerName 'ghost' is not a container of the task",
        "healthCheck.retries (11) must be between 1 and 10",
        "mountPoints[0].sourceVolume 'nope' is not a volume of the task",
        "portMappings[0].protocol 'sctp' is not one of tcp, udp",
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    ];
    for text in expected {
        assert!(err.message.contains(text), "{:?} does not contain {text:?}", err.message);
    }
    assert_eq!(err.message.split("; ").count(), expected.len(), "{}", err.message);
    assert_eq!(err.code, ErrorCode::ClientException, "content problems win over parameter ones");
}

#[test]
fn health_check_ranges_are_all_reported() {
    let def = containers(
        json!([{"name": "web", "image": "x", "memory": 64,
                "healthCheck": {"command": ["CMD", "true"], "interval": 1, "timeout": 61,
                                "retries": 0, "startPeriod": 301}}]),
        json!({}),
    );
    let err = validate_register(&request(def)).expect_err("out of range");
    for field in ["interval (1)", "timeout (61)", "retries (0)", "startPeriod (301)"] {
        assert!(err.message.contains(field), "{} lacks {field}", err.message);
    }
}

#[test]
fn size_limit() {
    assert!(validate_size(MAX_TASK_DEFINITION_BYTES).is_ok());
    let err = validate_size(MAX_TASK_DEFINITION_BYTES + 1).expect_err("too large");
    assert_eq!(err.code, ErrorCode::ClientException);
    assert!(err.message.contains("65537 bytes"));
}

#[test]
fn cpu_strings() {
    let ok = [
        ("256", 256),
        (" 1024 ", 1024),
        ("1 vCPU", 1024),
        ("1vcpu", 1024),
        ("2 VCPU", 2048),
        ("0.25 vCPU", 256),
        (".5 vcpu", 512),
        ("0.125 vCPU", 128),
        ("192 vCPU", 196_608),
        ("1024.0", 1024),
        ("0", 0),
    ];
    for (text, units) in ok {
        assert_eq!(parse_task_cpu(text), Ok(units), "{text}");
    }
    for text in ["", "vcpu", "one vCPU", "0.1 vCPU", "1.5", "-1", "1 cpu", "1e3", "99999999999"] {
        assert!(parse_task_cpu(text).is_err(), "{text} should not parse");
    }
    assert!(parse_task_cpu("0.1 vCPU").expect_err("a fraction of a unit").contains("whole number"));
}

#[test]
fn memory_strings() {
    let ok = [
        ("512", 512),
        ("2 GB", 2048),
        ("2GB", 2048),
        ("0.5 GB", 512),
        ("1 gb", 1024),
        ("2 GiB", 2048),
        ("512 MiB", 512),
        ("512MB", 512),
        ("120 GB", 122_880),
    ];
    for (text, mib) in ok {
        assert_eq!(parse_task_memory(text), Ok(mib), "{text}");
    }
    for text in ["", "GB", "2 TB", "0.0001 GB", "lots", "-512", "5000000 GB"] {
        assert!(parse_task_memory(text).is_err(), "{text} should not parse");
    }
}

#[test]
fn fargate_sizes() {
    for (cpu, memory) in [
        (256, 512),
        (256, 2048),
        (512, 4096),
        (1024, 2048),
        (2048, 16384),
        (4096, 30720),
        (8192, 16384),
        (8192, 61440),
        (16384, 122_880),
    ] {
        assert!(fargate_pair_is_valid(cpu, memory), "{cpu}/{memory}");
    }
    for (cpu, memory) in [
        (256, 3072),
        (512, 512),
        (1024, 9216),
        (8192, 17408),
        (16384, 36864),
        (128, 512),
        (3072, 8192),
    ] {
        assert!(!fargate_pair_is_valid(cpu, memory), "{cpu}/{memory}");
    }
}

/// `a` with the members of `b` added (json! nests too deeply for one literal of this size).
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// A container using most members of the model.
fn rich_container() -> Value {
    let first = json!({
        "name": "web",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1",
        "repositoryCredentials": {
            "credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"
        },
        "cpu": 512,
        "memory": 1024,
        "memoryReservation": 512,
        "links": ["sidecar:side"],
        "portMappings": [
            {"containerPort": 80, "hostPort": 8080, "protocol": "tcp", "name": "http",
             "appProtocol": "http"},
            {"containerPortRange": "9000-9010", "protocol": "udp"}
        ],
        "essential": true,
        "restartPolicy": {"enabled": true, "ignoredExitCodes": [0, 143],
                          "restartAttemptPeriod": 300},
        "entryPoint": ["/bin/sh", "-c"],
        "command": ["exec nginx -g 'daemon off;'"],
        "environment": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY", "value": ""}],
        "environmentFiles": [{"value": "arn:aws:s3:::bucket/web.env", "type": "s3"}],
        "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": true}],
        "volumesFrom": [{"sourceContainer": "sidecar", "readOnly": false}]
    });
    let linux = json!({"linuxParameters": {
        "capabilities": {"add": ["NET_ADMIN", "SYS_PTRACE"], "drop": ["MKNOD"]},
        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse",
                     "permissions": ["read", "write"]}],
        "initProcessEnabled": true,
        "sharedMemorySize": 64,
        "tmpfs": [{"containerPath": "/run", "size": 32, "mountOptions": ["noexec"]}],
        "maxSwap": 512,
        "swappiness": 10
    }});
    let second = json!({
        "secrets": [{"name": "DB_PASSWORD",
                     "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}],
        "dependsOn": [{"containerName": "sidecar", "condition": "HEALTHY"}],
        "startTimeout": 60,
        "stopTimeout": 30,
        "versionConsistency": "disabled",
        "hostname": "web",
        "user": "1000:1000",
        "workingDirectory": "/app",
        "disableNetworking": false,
        "privileged": false,
        "readonlyRootFilesystem": true,
        "dnsServers": ["10.0.0.2"],
        "dnsSearchDomains": ["example.internal"],
        "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.5"}],
        "dockerSecurityOptions": ["no-new-privileges"],
        "interactive": false,
        "pseudoTerminal": false,
        "dockerLabels": {"z.last": "1", "a.first": "2"},
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]
    });
    let third = json!({
        "logConfiguration": {
            "logDriver": "splunk",
            "options": {"splunk-url": "https://splunk:8088", "splunk-index": "web"},
            "secretOptions": [{"name": "splunk-token",
                "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t"}]
        },
        "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                        "interval": 10, "timeout": 3, "retries": 2, "startPeriod": 15},
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
        "resourceRequirements": [{"type": "GPU", "value": "1"}],
        "credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::bucket/spec.json"]
    });
    merged(merged(merged(first, linux), second), third)
}

/// A definition using most members; what is registered comes back unchanged.
fn rich_definition() -> Value {
    let task = json!({
        "family": "rich",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "cpu": "1024",
        "memory": "2048",
        "pidMode": "task",
        "ipcMode": "none",
        "enableFaultInjection": false,
        "ephemeralStorage": {"sizeInGiB": 30},
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "placementConstraints": [{"type": "memberOf",
                                  "expression": "attribute:ecs.instance-type =~ t3.*"}],
        "tags": [{"key": "team", "value": "core"}]
    });
    let volumes = json!({"volumes": [
        {"name": "data", "host": {"sourcePath": "/srv/data"}},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local",
          "driverOpts": {"type": "tmpfs"}, "labels": {"a": "b"}}},
        {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/",
          "transitEncryption": "ENABLED", "transitEncryptionPort": 2049,
          "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}}
    ]});
    let sidecar = json!({
        "name": "sidecar",
        "image": "fluent/fluent-bit",
        "memoryReservation": 128,
        "essential": false,
        "firelensConfiguration": {"type": "fluentbit",
                                  "options": {"enable-ecs-log-metadata": "true"}},
        "healthCheck": {"command": ["CMD", "true"]}
    });
    let containers = json!({"containerDefinitions": [rich_container(), sidecar]});
    merged(merged(task, volumes), containers)
}

#[test]
fn wire_round_trip_keeps_every_member() {
    let original = rich_definition();
    let req = request(original.clone());
    assert_eq!(serde_json::to_value(&req).expect("serializes"), original);
    assert_eq!(validate_register(&req), Ok(()));
}

#[test]
fn unknown_members_are_ignored() {
    let mut def = task(json!({"someFutureMember": {"x": 1}}));
    def["containerDefinitions"][0]["anotherNewThing"] = json!(true);
    let req = request(def);
    assert_eq!(req.container_definitions[0].name.as_deref(), Some("web"));
}

#[test]
fn missing_required_nested_member_is_a_decode_error() {
    let def = containers(
        json!([{"name": "web", "image": "x", "memory": 64, "ulimits": [{"name": "nofile", "softLimit": 1}]}]),
        json!({}),
    );
    let body = serde_json::to_vec(&def).expect("serializes");
    let err = crate::common::decode::<TaskDefinitionRegistration>(&body).expect_err("missing");
    assert_eq!(err.code, ErrorCode::InvalidParameterException);
    assert!(err.message.contains("hardLimit"), "{}", err.message);
}

#[test]
fn built_definition_fills_ecs_defaults() {
    let def = containers(
        json!([
            {"name": "web", "image": "nginx", "memory": 256, "portMappings": [{"containerPort": 80}],
             "healthCheck": {"command": ["CMD", "true"], "interval": 10}},
            {"name": "side", "image": "busybox", "memoryReservation": 32, "essential": false, "cpu": 128}
        ]),
        json!({"networkMode": "awsvpc", "cpu": "0.5 vCPU", "memory": "1 GB",
               "tags": [{"key": "k", "value": "v"}]}),
    );
    let mut req = request(def);
    assert_eq!(validate_register(&req), Ok(()));
    let tags = req.tags.take();
    let td = build_task_definition(
        req,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3".to_string(),
        3,
        1_700_000_000.5,
        Some("arn:aws:iam::123456789012:user/me".to_string()),
    );
    assert_eq!(tags.map(|t| t.len()), Some(1));
    let out = serde_json::to_value(&td).expect("serializes");
    assert_eq!(out["status"], "ACTIVE");
    assert_eq!(out["revision"], 3);
    assert_eq!(out["cpu"], "512");
    assert_eq!(out["memory"], "1024");
    assert_eq!(out["registeredAt"], 1_700_000_000.5);
    assert_eq!(out["registeredBy"], "arn:aws:iam::123456789012:user/me");
    assert_eq!(out["networkMode"], "awsvpc");
    assert_eq!(out["volumes"], json!([]));
    assert_eq!(out["placementConstraints"], json!([]));
    assert_eq!(out["compatibilities"], json!(["EC2", "FARGATE"]));
    assert!(out.get("tags").is_none());
    let web = &out["containerDefinitions"][0];
    assert_eq!(web["cpu"], 0);
    assert_eq!(web["essential"], true);
    assert_eq!(web["environment"], json!([]));
    assert_eq!(web["mountPoints"], json!([]));
    assert_eq!(web["volumesFrom"], json!([]));
    assert_eq!(
        web["portMappings"],
        json!([{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}])
    );
    assert_eq!(
        web["healthCheck"],
        json!({"command": ["CMD", "true"], "interval": 10, "timeout": 5, "retries": 3})
    );
    let side = &out["containerDefinitions"][1];
    assert_eq!(side["cpu"], 128);
    assert_eq!(side["essential"], false);
    assert_eq!(side["portMappings"], json!([]));
    let attributes: Vec<&str> =
        td.requires_attributes.iter().flatten().map(|a| a.name.as_str()).collect();
    assert!(attributes.contains(&"ecs.capability.task-eni"), "{attributes:?}");
    assert!(attributes.contains(&"ecs.capability.container-health-check"), "{attributes:?}");
    assert!(
        attributes.contains(&"com.amazonaws.ecs.capability.docker-remote-api.1.21"),
        "{attributes:?}"
    );
    // What comes back decodes to the same value.
    let again: TaskDefinition = serde_json::from_value(out).expect("decodes");
    assert_eq!(again, td);
}

#[test]
fn built_definition_keeps_registered_members() {
    let req = request(rich_definition());
    let td = build_task_definition(req.clone(), "arn".to_string(), 1, 0.0, None);
    let out = serde_json::to_value(&td).expect("serializes");
    let original = rich_definition();
    for key in [
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "pidMode",
        "ipcMode",
        "ephemeralStorage",
        "runtimePlatform",
        "placementConstraints",
        "volumes",
        "enableFaultInjection",
    ] {
        assert_eq!(out[key], original[key], "{key}");
    }
    // The first container had every defaulted member given, so it is returned as registered.
    assert_eq!(out["containerDefinitions"][0], original["containerDefinitions"][0]);
    assert!(out.get("networkMode").is_some());
    assert_eq!(out["compatibilities"], json!(["EC2"]));
    let attributes: Vec<String> =
        td.requires_attributes.unwrap_or_default().into_iter().map(|a| a.name).collect();
    for expected in [
        "com.amazonaws.ecs.capability.logging-driver.splunk",
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-ecr-pull",
        "com.amazonaws.ecs.capability.task-iam-role",
        "ecs.capability.container-ordering",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.firelens.fluentbit",
        "ecs.capability.efsAuth",
        "ecs.capability.task-cpu-mem-limit",
    ] {
        assert!(attributes.iter().any(|a| a == expected), "{expected} missing from {attributes:?}");
    }
}

#[test]
fn network_mode_stays_absent_when_not_given() {
    let td = build_task_definition(request(task(json!({}))), "arn".to_string(), 1, 0.0, None);
    let out = serde_json::to_value(&td).expect("serializes");
    assert!(out.get("networkMode").is_none());
    assert!(out.get("cpu").is_none());
    assert_eq!(out["compatibilities"], json!(["EC2"]));
}

#[test]
fn deregister_and_delete() {
    let mut td = build_task_definition(request(task(json!({}))), "arn".to_string(), 1, 0.0, None);
    assert!(td.request_delete(5.0).is_err(), "ACTIVE revisions cannot be deleted");
    td.deregister(10.0);
    td.deregister(20.0);
    assert_eq!(td.status, TaskDefinitionStatus::Inactive);
    assert_eq!(td.deregistered_at, Some(10.0));
    assert_eq!(td.request_delete(30.0), Ok(()));
    assert_eq!(td.status, TaskDefinitionStatus::DeleteInProgress);
    assert_eq!(td.delete_requested_at, Some(30.0));
}

#[test]
fn task_definition_references() {
    assert_eq!(parse_task_definition_ref("web"), Ok(TaskDefinitionRef::Family("web".to_string())));
    assert_eq!(
        parse_task_definition_ref("web:7"),
        Ok(TaskDefinitionRef::Revision { family: "web".to_string(), revision: 7 })
    );
    assert_eq!(
        parse_task_definition_ref("arn:aws:ecs:us-east-1:123456789012:task-definition/web_app:12"),
        Ok(TaskDefinitionRef::Revision { family: "web_app".to_string(), revision: 12 })
    );
    let bad_revision = parse_task_definition_ref("web:x").expect_err("not a number");
    assert_eq!(bad_revision.message, "Invalid revision number. Number: x");
    for bad in [
        "",
        "web:0",
        "web:-1",
        "we b",
        "arn:aws:ecs:us-east-1:1:cluster/x",
        "arn:aws:ecs:r:1:task-definition/web",
    ] {
        assert!(parse_task_definition_ref(bad).is_err(), "{bad}");
    }
}

#[test]
fn other_operations() {
    let err = validate_list_task_definitions(Some("DELETED"), Some("UP"), Some(0))
        .expect_err("three problems");
    assert_eq!(err.code, ErrorCode::InvalidParameterException);
    assert_eq!(err.message.split("; ").count(), 3, "{}", err.message);
    assert!(validate_list_task_definitions(None, None, None).is_ok());
    assert!(validate_list_task_definition_families(Some("ALL"), None).is_ok());
    let include = ["TAGS".to_string(), "SECRETS".to_string()];
    assert!(validate_describe_task_definition(&include)
        .expect_err("SECRETS")
        .message
        .contains("'SECRETS'"));
    assert!(validate_delete_task_definitions(0).is_err());
}

// ---------------------------------------------------------------------------------------------
// Properties

fn arb_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec!["a", "b", "c", "", "bad name", "a"]).prop_map(String::from),
    )
}

fn arb_port() -> impl Strategy<Value = PortMapping> {
    (
        prop::option::of(-2i32..70000),
        prop::option::of(-2i32..70000),
        prop::option::of(prop::sample::select(vec!["tcp", "udp", "sctp"]).prop_map(String::from)),
        prop::option::of(
            prop::sample::select(vec!["80-90", "90-80", "x", "1-65535"]).prop_map(String::from),
        ),
        prop::option::of(prop::sample::select(vec!["http", "-x", "http"]).prop_map(String::from)),
    )
        .prop_map(|(container_port, host_port, protocol, container_port_range, name)| {
            PortMapping {
                container_port,
                host_port,
                protocol,
                name,
                container_port_range,
                app_protocol: None,
            }
        })
}

fn arb_container() -> impl Strategy<Value = ContainerDefinition> {
    (
        arb_name(),
        prop::option::of(prop::sample::select(vec!["nginx", ""]).prop_map(String::from)),
        prop::option::of(-5i32..3000),
        prop::option::of(-5i32..3000),
        prop::option::of(-5i32..3000),
        prop::option::of(prop::collection::vec(arb_port(), 0..3)),
        prop::option::of(prop::collection::vec(
            (arb_name(), prop::sample::select(vec!["START", "HEALTHY", "NOPE"])),
            0..3,
        )),
        prop::option::of(prop::collection::vec(arb_name(), 0..2)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..3)),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::collection::vec(arb_name(), 0..2)),
        prop::option::of(-1i32..400),
    )
        .prop_map(
            |(
                name,
                image,
                cpu,
                memory,
                reservation,
                ports,
                deps,
                links,
                health,
                essential,
                from,
                stop,
            )| {
                ContainerDefinition {
                    name,
                    image,
                    cpu,
                    memory,
                    memory_reservation: reservation,
                    port_mappings: ports,
                    depends_on: deps.map(|d| {
                        d.into_iter()
                            .map(|(n, c)| ContainerDependency {
                                container_name: n.unwrap_or_default(),
                                condition: c.to_string(),
                            })
                            .collect()
                    }),
                    links: links.map(|l| l.into_iter().flatten().collect()),
                    health_check: health.map(|h| HealthCheck {
                        command: h
                            .iter()
                            .map(|b| ["CMD", "CMD-SHELL", "x"][*b as usize % 3].to_string())
                            .collect(),
                        interval: h.first().map(|b| i32::from(*b)),
                        ..Default::default()
                    }),
                    essential,
                    volumes_from: from.map(|f| {
                        f.into_iter()
                            .map(|s| VolumeFrom { source_container: s, read_only: None })
                            .collect()
                    }),
                    stop_timeout: stop,
                    mount_points: Some(vec![MountPoint {
                        source_volume: Some("v".to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }
            },
        )
}

fn arb_request() -> impl Strategy<Value = TaskDefinitionRegistration> {
    let text = |options: Vec<&'static str>| {
        prop::option::of(prop::sample::select(options).prop_map(String::from))
    };
    (
        prop::sample::select(vec!["app", "", "a b", "x_y-z"]).prop_map(String::from),
        prop::collection::vec(arb_container(), 0..12),
        text(vec!["bridge", "host", "awsvpc", "none", "overlay"]),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["EC2", "FARGATE", "EXTERNAL", "X"]).prop_map(String::from),
            0..3,
        )),
        text(vec!["256", "1 vCPU", "0.3 vcpu", "x", "", "99999999999", "64"]),
        text(vec!["512", "2 GB", "0", "x", "", "0.5 GB"]),
        prop::option::of(prop::collection::vec(text(vec!["v", "w", "v", "bad name"]), 0..3)),
    )
        .prop_map(|(family, containers, network_mode, requires, cpu, memory, volumes)| {
            TaskDefinitionRegistration {
                family,
                container_definitions: containers,
                network_mode,
                requires_compatibilities: requires,
                cpu,
                memory,
                volumes: volumes.map(|v| {
                    v.into_iter().map(|name| Volume { name, ..Default::default() }).collect()
                }),
                ..Default::default()
            }
        })
}

/// Parts of one container of a valid definition: memory, reservation share, cpu, health check,
/// whether to publish a port, which earlier container to depend on and how, essential.
type ValidParts = (i32, Option<u8>, i32, bool, bool, Option<(usize, u8)>, bool);

fn assemble_valid(
    family: String,
    mode: Option<&str>,
    fargate: bool,
    parts: Vec<ValidParts>,
) -> TaskDefinitionRegistration {
    let effective = mode.unwrap_or("bridge");
    let names: Vec<String> = (0..parts.len()).map(|i| format!("c{i}")).collect();
    let health: Vec<bool> = parts.iter().map(|p| p.3).collect();
    let containers = parts
        .iter()
        .enumerate()
        .map(|(i, &(memory, share, cpu, has_health, port, dep, essential))| {
            let port_mappings = port.then(|| {
                let container_port = 1000 + i32::try_from(i).unwrap_or(0);
                // Host ports stay unique: each container publishes its own port number.
                let host_port = if effective == "bridge" && i % 2 == 0 {
                    Some(0)
                } else {
                    Some(container_port)
                };
                vec![PortMapping {
                    container_port: Some(container_port),
                    host_port,
                    ..Default::default()
                }]
            });
            let depends_on = dep.filter(|_| i > 0).map(|(target, condition)| {
                let target = target % i;
                let conditions: &[&str] = if health[target] {
                    &["START", "COMPLETE", "SUCCESS", "HEALTHY"]
                } else {
                    &["START", "COMPLETE", "SUCCESS"]
                };
                vec![ContainerDependency {
                    container_name: names[target].clone(),
                    condition: conditions[usize::from(condition) % conditions.len()].to_string(),
                }]
            });
            let links = (effective == "bridge" && i > 0 && essential)
                .then(|| vec![format!("{}:peer", names[i - 1])]);
            ContainerDefinition {
                name: Some(names[i].clone()),
                image: Some("registry.example/app:1".to_string()),
                cpu: Some(cpu),
                memory: Some(memory),
                memory_reservation: share.map(|s| (memory * i32::from(s) / 255).max(6)),
                port_mappings,
                depends_on,
                links,
                health_check: has_health.then(|| HealthCheck {
                    command: vec!["CMD-SHELL".to_string(), "true".to_string()],
                    interval: Some(30),
                    ..Default::default()
                }),
                essential: Some(essential || i == 0),
                ..Default::default()
            }
        })
        .collect();
    TaskDefinitionRegistration {
        family,
        network_mode: mode.map(String::from),
        container_definitions: containers,
        requires_compatibilities: fargate.then(|| vec!["FARGATE".to_string()]),
        cpu: fargate.then(|| "1 vCPU".to_string()),
        memory: fargate.then(|| "8 GB".to_string()),
        ..Default::default()
    }
}

fn arb_valid_request() -> impl Strategy<Value = TaskDefinitionRegistration> {
    (
        "[a-zA-Z0-9_-]{1,40}",
        prop::sample::select(vec![None, Some("bridge"), Some("host"), Some("awsvpc")]),
        any::<bool>(),
        1usize..=MAX_CONTAINERS,
    )
        .prop_flat_map(|(family, mode, fargate, n)| {
            // Fargate: the containers must fit 1 vCPU and 8 GB together.
            let (max_memory, max_cpu) = if fargate { (800, 100) } else { (4096, 2048) };
            let part = (
                6i32..=max_memory,
                prop::option::of(any::<u8>()),
                0i32..=max_cpu,
                any::<bool>(),
                any::<bool>(),
                prop::option::of((any::<usize>(), any::<u8>())),
                any::<bool>(),
            );
            (Just(family), Just(mode), Just(fargate), prop::collection::vec(part, n))
        })
        .prop_map(|(family, mode, fargate, parts)| {
            let mode = if fargate { Some("awsvpc") } else { mode };
            assemble_valid(family, mode, fargate, parts)
        })
}

proptest! {
    #[test]
    fn validation_never_panics(req in arb_request()) {
        let verdict = validate_register(&req);
        if let Err(e) = &verdict {
            prop_assert!(!e.message.is_empty());
        }
        // Building never panics either, even from a definition validation would refuse.
        let td = build_task_definition(req, "arn".to_string(), 1, 0.0, None);
        prop_assert!(serde_json::to_vec(&td).is_ok());
    }

    #[test]
    fn generated_valid_definitions_validate(req in arb_valid_request()) {
        prop_assert_eq!(validate_register(&req), Ok(()));
        // And survive the wire both as a request and as the built definition.
        let wire = serde_json::to_value(&req).expect("serializes");
        let back: TaskDefinitionRegistration = serde_json::from_value(wire).expect("decodes");
        prop_assert_eq!(&back, &req);
        let td = build_task_definition(req, "arn".to_string(), 1, 0.0, None);
        prop_assert_eq!(td.container_definitions.len(), back.container_definitions.len());
        prop_assert!(td.container_definitions.iter().all(|c| c.essential.is_some() && c.cpu.is_some()));
    }
}
