//! The enum values botocore's ECS model allows for the `String` members of task definitions.

pub const NETWORK_MODES: &[&str] = &["bridge", "host", "awsvpc", "none"];
pub const COMPATIBILITIES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
pub const PID_MODES: &[&str] = &["host", "task"];
pub const IPC_MODES: &[&str] = &["host", "task", "none"];
pub const TRANSPORT_PROTOCOLS: &[&str] = &["tcp", "udp"];
pub const APPLICATION_PROTOCOLS: &[&str] = &["http", "http2", "grpc"];
pub const CONTAINER_CONDITIONS: &[&str] = &["START", "COMPLETE", "SUCCESS", "HEALTHY"];
pub const VERSION_CONSISTENCY: &[&str] = &["enabled", "disabled"];
pub const ENVIRONMENT_FILE_TYPES: &[&str] = &["s3"];
pub const DEVICE_CGROUP_PERMISSIONS: &[&str] = &["read", "write", "mknod"];
pub const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];
pub const LOG_DRIVERS: &[&str] =
    &["json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens"];
pub const RESOURCE_TYPES: &[&str] = &["GPU", "InferenceAccelerator"];
pub const FIRELENS_TYPES: &[&str] = &["fluentd", "fluentbit"];
pub const VOLUME_SCOPES: &[&str] = &["task", "shared"];
pub const EFS_TRANSIT_ENCRYPTION: &[&str] = &["ENABLED", "DISABLED"];
pub const EFS_IAM: &[&str] = &["ENABLED", "DISABLED"];
pub const PLACEMENT_CONSTRAINT_TYPES: &[&str] = &["memberOf"];
pub const CPU_ARCHITECTURES: &[&str] = &["X86_64", "ARM64"];
pub const OS_FAMILIES: &[&str] = &[
    "WINDOWS_SERVER_2019_FULL",
    "WINDOWS_SERVER_2019_CORE",
    "WINDOWS_SERVER_2016_FULL",
    "WINDOWS_SERVER_2004_CORE",
    "WINDOWS_SERVER_2022_CORE",
    "WINDOWS_SERVER_2022_FULL",
    "WINDOWS_SERVER_2025_CORE",
    "WINDOWS_SERVER_2025_FULL",
    "WINDOWS_SERVER_20H2_CORE",
    "LINUX",
];
pub const PROXY_CONFIGURATION_TYPES: &[&str] = &["APPMESH"];
pub const TASK_DEFINITION_STATUSES: &[&str] = &["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"];
pub const TASK_DEFINITION_FAMILY_STATUSES: &[&str] = &["ACTIVE", "INACTIVE", "ALL"];
pub const SORT_ORDERS: &[&str] = &["ASC", "DESC"];
pub const TASK_DEFINITION_FIELDS: &[&str] = &["TAGS"];
