//! Test harness: starts the real `flotilla` binary on a free port with its own data directory,
//! and gives tests `aws-sdk-ecs` and `aws-sdk-cloudwatchlogs` clients and a raw signed-HTTP
//! client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use flotilla_agent::connection::{connect, register_on, Registered, Socket};
use flotilla_api::agent::Register;
use flotilla_api::instance::{Resource, VersionInfo};

pub const REGION: &str = "us-east-1";

pub struct Flotilla {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Keeps the temporary directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// A program the server is started through (`prlimit ...`), if any.
    launcher: Vec<String>,
}

/// A launcher word meaning "listen on 0.0.0.0" (not a program).
const LISTEN_EVERYWHERE: &str = "@listen-everywhere";

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

impl Flotilla {
    /// A server on a fresh data directory.
    pub fn start() -> Flotilla {
        Self::start_with_env(Vec::new())
    }

    pub fn start_with_env(env: Vec<(String, String)>) -> Flotilla {
        Self::start_with(env, Vec::new())
    }

    /// A server with extra environment and extra `flotilla server` flags.
    pub fn start_with(env: Vec<(String, String)>, args: Vec<String>) -> Flotilla {
        Self::launch(env, args, Vec::new())
    }

    /// A server listening on every address of the machine (on the API port), so agents in other
    /// network namespaces reach it over a bridge the test made.
    pub fn start_on_every_address(args: Vec<String>) -> Flotilla {
        Self::launch(Vec::new(), args, vec![LISTEN_EVERYWHERE.to_string()])
    }

    /// A server started through `launcher` (a program that runs the rest of its command line,
    /// such as `prlimit --nofile=256:`).
    pub fn start_under(launcher: &[&str]) -> Flotilla {
        Self::launch(Vec::new(), Vec::new(), launcher.iter().map(|a| a.to_string()).collect())
    }

    fn launch(env: Vec<(String, String)>, args: Vec<String>, launcher: Vec<String>) -> Flotilla {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let mut f = Flotilla {
            child: None,
            port: free_port(),
            data_dir,
            _dir: Some(dir),
            env,
            args,
            launcher,
        };
        f.spawn();
        f
    }

    fn spawn(&mut self) {
        let everywhere = self.launcher.first().map(String::as_str) == Some(LISTEN_EVERYWHERE);
        let launcher = if everywhere { &self.launcher[1..] } else { &self.launcher[..] };
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_flotilla"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_flotilla")),
        };
        command
            .arg("server")
            .arg("--listen")
            .arg(format!("{}:{}", if everywhere { "0.0.0.0" } else { "127.0.0.1" }, self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(self.lb_addresses_arg())
            .args(&self.args)
            .env("FLOTILLA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(command.spawn().expect("spawn flotilla"));
        self.wait_healthy();
    }

    /// Load balancer addresses of this server's own, so servers of tests running at once never
    /// listen on the same address: a /24 of loopback picked by the API port.
    pub fn lb_range(&self) -> String {
        let (x, y) = (2 + (self.port / 256) % 250, self.port % 256);
        format!("127.{x}.{y}.1-127.{x}.{y}.254")
    }

    fn lb_addresses_arg(&self) -> Vec<String> {
        if self.args.iter().any(|a| a == "--lb-addresses") {
            return Vec::new();
        }
        vec!["--lb-addresses".into(), self.lb_range()]
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("flotilla exited before becoming healthy: {status}");
            }
            if let Ok((200, _)) = raw_http(
                self.port,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".as_bytes(),
            ) {
                return;
            }
            assert!(Instant::now() < deadline, "flotilla did not become healthy in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `kill -9` the server, then start it again on the same port and data directory.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Stops the server (SIGTERM) and starts it again on the same port and data directory with
    /// `args` in place of its extra flags.
    pub fn restart_with(&mut self, args: &[&str]) {
        if self.child.is_some() {
            self.terminate();
        }
        self.args = args.iter().map(|a| a.to_string()).collect();
        self.spawn();
    }

    /// Starts a killed server again on the same port and data directory.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The root key from `<data-dir>/credentials`.
    pub fn root_key(&self) -> (String, String) {
        read_credentials(&self.data_dir.join("credentials"))
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let (id, secret) = self.root_key();
        client(&self.endpoint(), &id, &secret, REGION)
    }

    /// A CloudWatch Logs client on the same endpoint, with the root key.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        self.logs_in(REGION)
    }

    /// An ECS client of `region`, with the root key.
    pub fn ecs_in(&self, region: &str) -> aws_sdk_ecs::Client {
        let (id, secret) = self.root_key();
        client(&self.endpoint(), &id, &secret, region)
    }

    /// A CloudWatch Logs client of `region`, with the root key.
    pub fn logs_in(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        let (id, secret) = self.root_key();
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatchlogs::config::Region::new(region.to_string()))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(id, secret, None, None, "flotilla-test"))
            .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    /// The token agents authenticate with, from `<data-dir>/agent-token`.
    pub fn agent_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("agent-token"))
            .expect("agent-token file")
            .trim()
            .to_string()
    }

    /// Signs `body` as ECS operation `operation` with the root key and sends it raw.
    pub fn signed_call(&self, operation: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let (id, secret) = self.root_key();
        let request = SignedRaw::new(operation, body).sign(&id, &secret, REGION, SystemTime::now());
        let (status, body) = raw_http(self.port, &request.to_bytes()).expect("http");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for Flotilla {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn read_credentials(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).expect("credentials file");
    let value = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key).map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap_or_else(|| panic!("{key} missing in credentials file"))
    };
    (value("aws_access_key_id"), value("aws_secret_access_key"))
}

pub fn client(endpoint: &str, id: &str, secret: &str, region: &str) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "flotilla-test"))
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// Sends raw bytes, returns the status and body (the request must say `Connection: close`).
pub fn raw_http(port: u16, request: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    raw_http_with_head(port, request).map(|(status, _, body)| (status, body))
}

/// Like `raw_http`, with the response head (status line and headers, lowercased) too.
pub fn raw_http_with_head(port: u16, request: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    // Headers first: a server that refuses the request from its headers alone (an oversize
    // Content-Length) answers and closes at once, and sending the body into the closed socket
    // would reset the connection and lose that answer.
    let split = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(request.len(), |p| p + 4);
    stream.write_all(&request[..split])?;
    let mut response = Vec::new();
    if split < request.len() && request.len() - split > 64 * 1024 {
        stream.set_read_timeout(Some(Duration::from_millis(300)))?;
        let mut early = [0u8; 4096];
        if let Ok(n @ 1..) = stream.read(&mut early) {
            response.extend_from_slice(&early[..n]);
        }
    }
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    if response.is_empty() {
        // The server may still refuse and close before reading all of a large body.
        let _ = stream.write_all(&request[split..]);
    }
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {text:?}")))?;
    let body_start =
        response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    let head = text[..body_start.min(text.len())].to_ascii_lowercase();
    let mut body = response[body_start..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap_or("0").trim(), 16)
                .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// An ECS request built by hand, to send what the SDK never would.
pub struct SignedRaw {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// The SigV4 service name (`ecs` unless built with `for_service`).
    pub signing_name: &'static str,
    /// Signed with this session token (`X-Amz-Security-Token`).
    pub session_token: Option<String>,
    /// Signed as `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    pub unsigned_payload: bool,
}

impl SignedRaw {
    pub fn new(operation: &str, body: &[u8]) -> SignedRaw {
        SignedRaw::for_service(
            "ecs",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &format!("AmazonEC2ContainerServiceV20141113.{operation}")),
            ],
            body,
        )
    }

    /// A `POST /` to another service of the endpoint, with its own headers.
    pub fn for_service(
        signing_name: &'static str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> SignedRaw {
        let mut all = vec![("host".to_string(), "127.0.0.1".to_string())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        SignedRaw {
            body: body.to_vec(),
            headers: all,
            signing_name,
            session_token: None,
            unsigned_payload: false,
        }
    }

    /// Signs with `aws-sigv4` (the SDK's own signer) and adds the resulting headers.
    pub fn sign(mut self, id: &str, secret: &str, region: &str, at: SystemTime) -> SignedRaw {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
        };
        use aws_sigv4::sign::v4;
        let identity = Credentials::new(id, secret, self.session_token.clone(), None, "raw").into();
        let mut settings = SigningSettings::default();
        if self.unsigned_payload {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(self.signing_name)
            .time(at)
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1/",
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            if self.unsigned_payload {
                SignableBody::UnsignedPayload
            } else {
                SignableBody::Bytes(&self.body)
            },
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        for (name, value) in instructions.headers() {
            self.headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"POST / HTTP/1.1\r\n".to_vec();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("content-length: {}\r\nconnection: close\r\n\r\n", self.body.len()).as_bytes(),
        );
        out.extend_from_slice(&self.body);
        out
    }
}

fn register_message(id: Option<&str>) -> Register {
    Register {
        cluster: "default".into(),
        container_instance_id: id.map(str::to_string),
        host_id: "i-agentdoor".into(),
        registered_resources: vec![
            Resource::integer("CPU", 1024),
            Resource::integer("MEMORY", 1024),
            Resource::string_set("PORTS", Vec::new()),
            Resource::string_set("PORTS_UDP", Vec::new()),
        ],
        attributes: Vec::new(),
        version_info: VersionInfo::default(),
        advertise_address: None,
    }
}

/// An agent connection: connects with `bearer` and registers (as instance `id`, if given), with the agent's own
/// client code; the error is the refusal's text.
pub async fn join(
    f: &Flotilla,
    bearer: &str,
    id: Option<&str>,
) -> Result<(Socket, Registered), String> {
    let mut socket = connect(&flotilla_agent::ServerAddress::new(f.endpoint(), None), bearer)
        .await
        .map_err(|e| e.to_string())?;
    let registered =
        register_on(&mut socket, register_message(id)).await.map_err(|e| e.to_string())?;
    Ok((socket, registered))
}

/// Registers `family`: one container of the same name, `flotilla/demo`, 32 MiB — enough for
/// hollow agents, which run nothing. Returns the revision's ARN.
pub async fn register_hollow(ecs: &aws_sdk_ecs::Client, family: &str) -> String {
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name(family)
        .image("flotilla/demo")
        .memory(32)
        .build();
    let out = ecs
        .register_task_definition()
        .family(family)
        .container_definitions(container)
        .send()
        .await
        .expect("register");
    out.task_definition().and_then(|t| t.task_definition_arn()).expect("arn").to_string()
}

/// `flotilla sim agents`, stopped on drop.
pub struct HollowAgents(Child);

/// The ARNs of `count` container instances of `cluster`, once that many have registered
/// (within 20 s).
pub async fn registered_instances(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    count: usize,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed =
            ecs.list_container_instances().cluster(cluster).send().await.expect("list instances");
        if listed.container_instance_arns().len() >= count {
            return listed.container_instance_arns().to_vec();
        }
        assert!(Instant::now() < deadline, "{count} instances did not register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl HollowAgents {
    pub fn start(f: &Flotilla, cluster: &str, count: usize) -> HollowAgents {
        Self::start_with(f, cluster, count, &[])
    }

    /// Like `start`, with more `flotilla sim agents` flags.
    pub fn start_with(f: &Flotilla, cluster: &str, count: usize, flags: &[&str]) -> HollowAgents {
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(["sim", "agents", "--server", &f.endpoint(), "--cluster", cluster])
            .args(flags)
            .arg("--token-file")
            .arg(f.data_dir.join("agent-token"))
            .args(["--count", &count.to_string(), "--cpu", "4096", "--memory", "16384"])
            .env("FLOTILLA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn flotilla sim agents");
        HollowAgents(child)
    }
}

impl Drop for HollowAgents {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo workload image (design decision 8), built from the binary under test.
pub const DEMO_IMAGE: &str = "flotilla/demo:latest";

/// Builds [`DEMO_IMAGE`] with `flotilla demo build-image`, once per test process (a no-op when
/// the image already holds this very binary). Panics with Docker's error, so a test that needs
/// Docker fails rather than skips when Docker is missing.
pub fn ensure_demo_image() {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(["demo", "build-image", "--tag", DEMO_IMAGE])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run flotilla demo build-image: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "flotilla demo build-image failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// GETs `path` on a loopback port, retrying until something answers (or `limit` passes).
pub fn http_get_retry(port: u16, path: &str, limit: Duration) -> (u16, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let deadline = Instant::now() + limit;
    loop {
        match raw_http(port, request.as_bytes()) {
            Ok(answer) => return answer,
            Err(error) if Instant::now() > deadline => {
                panic!("nothing answered on port {port}: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A query-protocol call (EC2's, ELBv2's form posts, as the CLI sends them) signed with the
/// root key: the answer's XML (the call must succeed).
pub fn query_call(f: &Flotilla, signing_name: &'static str, version: &str, form: &str) -> String {
    let (id, secret) = f.root_key();
    let form = format!("{form}&Version={version}");
    let content_type = ("content-type", "application/x-www-form-urlencoded; charset=utf-8");
    let request = SignedRaw::for_service(signing_name, &[content_type], form.as_bytes()).sign(
        &id,
        &secret,
        REGION,
        std::time::SystemTime::now(),
    );
    let (status, body) = raw_http(f.port, &request.to_bytes()).expect("http");
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 200, "{form}: {body}");
    body
}

/// The bridges an agent of this machine made for subnet `subnet_id` (one per slice: `fl`, the
/// id's last 8 characters, the slice's 4 hex digits).
pub fn subnet_bridges(subnet_id: &str) -> Vec<String> {
    let prefix = format!("fl{}", &subnet_id[subnet_id.len().saturating_sub(8)..]);
    let out = Command::new("ip").args(["-o", "link", "show", "type", "bridge"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

/// Removes a test subnet's bridges when dropped (the bridge plugin keeps a bridge for the
/// next task; the test's subnet has no next task).
pub struct SubnetBridgesGone(pub String);

impl Drop for SubnetBridgesGone {
    fn drop(&mut self) {
        for bridge in subnet_bridges(&self.0) {
            let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        }
    }
}

/// Removes the spare pause containers of agent `host_id` (an agent keeps one started once it has
/// run an awsvpc task, and removes it when it stops; a killed one cannot).
pub fn remove_spare_pauses(host_id: &str) {
    let filter = format!("label=io.flotilla.spare-pause={host_id}");
    let Ok(out) = Command::new("docker").args(["ps", "-aq", "--filter", &filter]).output() else {
        return;
    };
    for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
}

/// A killed agent leaves the container credentials endpoint's device (`flcreds0`, holding
/// 169.254.170.2): removed once no agent of this machine listens on that address any more
/// (`/proc/net/tcp` writes it `02AAFEA9`, LISTEN as `0A`).
pub fn remove_credentials_device_if_unused() {
    let listening = std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].starts_with("02AAFEA9") && fields[3] == "0A"
        })
    });
    if !listening {
        let _ = std::process::Command::new("ip").args(["link", "del", "flcreds0"]).output();
    }
}
