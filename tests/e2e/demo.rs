//! The demo workload image (design decision 8): built offline from the binary under test, it
//! serves HTTP, honours (or, when told, ignores) SIGTERM, exits with the code it is told, crashes
//! and fails health checks on request, and carries its own health probe (`demo check`).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ensure_demo_image, raw_http, DEMO_IMAGE};

/// Runs `docker ARGS`; panics with Docker's error when it fails (Docker missing included).
fn docker(args: &[&str]) -> String {
    let output = docker_output(args);
    assert!(
        output.status.success(),
        "docker {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {}: {e}", args.join(" ")))
}

/// A container this test created; removed when dropped, even if the test failed.
struct Container {
    id: String,
}

impl Container {
    /// `docker run -d` of the demo image with `args` after the image name.
    fn start(docker_args: &[&str], args: &[&str]) -> Container {
        ensure_demo_image();
        let mut all = vec!["run", "-d", "--label", "io.flotilla.e2e=demo"];
        all.extend_from_slice(docker_args);
        all.push(DEMO_IMAGE);
        all.extend_from_slice(args);
        Container { id: docker(&all) }
    }

    /// A demo server with its port 8080 published on a free loopback port.
    fn serve(args: &[&str]) -> Container {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Container::start(&["-p", "127.0.0.1::8080"], &all)
    }

    fn host_port(&self) -> u16 {
        let mapping = docker(&["port", &self.id, "8080/tcp"]);
        let first = mapping.lines().next().unwrap_or_default();
        first
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no published port in {mapping:?}"))
    }

    /// GET `path` on the published port, retrying while the server starts.
    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let port = self.host_port();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match raw_http(port, request.as_bytes()) {
                Ok(answer) => return answer,
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "GET {path} on port {port}: {error}; logs: {}",
                        self.logs()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.id])
    }

    fn logs(&self) -> String {
        let output = docker_output(&["logs", &self.id]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// Waits for the container to exit; returns its exit code.
    fn wait(&self, within: Duration) -> i64 {
        let deadline = Instant::now() + within;
        while self.inspect("{{.State.Running}}") == "true" {
            assert!(Instant::now() < deadline, "still running after {within:?}: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        self.exit_code()
    }

    fn exit_code(&self) -> i64 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse().unwrap_or_else(|_| panic!("exit code {code:?}"))
    }

    /// `docker stop -t SECS`; returns how long it took.
    fn stop(&self, timeout_secs: u32) -> Duration {
        let start = Instant::now();
        docker(&["stop", "-t", &timeout_secs.to_string(), &self.id]);
        start.elapsed()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker_output(&["rm", "-f", "-v", &self.id]);
    }
}

/// `flotilla demo check URL` with the binary under test, on the host.
fn check(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["demo", "check", url, "--timeout", "5"])
        .stdin(Stdio::null())
        .output()
        .expect("run flotilla demo check")
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn demo_image_is_built_offline_from_scratch() {
    ensure_demo_image();
    let config = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}}",
        DEMO_IMAGE,
    ]);
    assert_eq!(config, r#"["/flotilla","demo"] ["serve"] {"8080/tcp":{}}"#);
    // A second build with the same binary finds the image and does nothing.
    let output = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["demo", "build-image"])
        .output()
        .expect("run build-image");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("up to date: flotilla/demo:latest"), "{stdout}");
}

#[test]
fn demo_image_has_a_shell_and_runs_other_programs() {
    ensure_demo_image();
    // `sh` through the `/flotilla demo` entrypoint, and the shell Docker's CMD-SHELL uses.
    let output = docker_output(&["run", "--rm", DEMO_IMAGE, "sh", "-c", "echo $((6 * 7))"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "42\n");
    let output = docker_output(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        DEMO_IMAGE,
        "-c",
        "type wget >/dev/null && flotilla demo exit 7",
    ]);
    assert_eq!(output.status.code(), Some(7), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "exiting with code 7\n");
    let output = docker_output(&["run", "--rm", DEMO_IMAGE, "no-such-program"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot run no-such-program"), "{stderr}");
}

#[test]
fn demo_server_answers_and_exits_0_on_sigterm() {
    let demo = Container::serve(&[]);
    let (status, body) = demo.get("/");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let info: serde_json::Value = serde_json::from_slice(&body).expect("GET / answers JSON");
    assert_eq!(info["pid"], 1, "{info}");
    assert!(demo.id.starts_with(info["hostname"].as_str().expect("hostname")), "{info}");
    assert!(info["uptime_seconds"].as_f64().is_some(), "{info}");
    assert!(info["env"].is_object(), "{info}");
    assert_eq!(demo.get("/healthz"), (200, b"ok\n".to_vec()));
    assert_eq!(demo.get("/burn?ms=50").0, 200);

    // The image carries its own probe: no curl needed for container health checks.
    let probe = docker_output(&[
        "exec",
        &demo.id,
        "/flotilla",
        "demo",
        "check",
        "http://127.0.0.1:8080/healthz",
    ]);
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let probe =
        docker_output(&["exec", &demo.id, "/flotilla", "demo", "check", "http://127.0.0.1:1/"]);
    assert_eq!(probe.status.code(), Some(1));

    let logs = demo.logs();
    assert!(logs.contains("listening on 0.0.0.0:8080"), "{logs}");
    assert!(logs.contains("GET /healthz 200"), "{logs}");

    let took = demo.stop(10);
    assert!(took < Duration::from_secs(5), "docker stop took {took:?}: SIGTERM was not honoured");
    assert_eq!(demo.exit_code(), 0, "{}", demo.logs());
    assert!(demo.logs().contains("received SIGTERM, exiting"));
}

#[test]
fn demo_check_probes_from_the_host() {
    let demo = Container::serve(&[]);
    assert_eq!(demo.get("/healthz").0, 200);
    let port = demo.host_port();
    let ok = check(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));

    let closed = check(&format!("http://127.0.0.1:{}/healthz", closed_port()));
    assert_eq!(closed.status.code(), Some(1));
    let why = String::from_utf8_lossy(&closed.stderr);
    assert!(why.contains("connect"), "{why}");

    let not_found = check(&format!("http://127.0.0.1:{port}/missing"));
    assert_eq!(not_found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("status 404"));
}

#[test]
fn demo_exit_and_crash_codes() {
    ensure_demo_image();
    // Named, so the guard removes it even if `--rm` never gets to.
    let name = format!("flotilla-e2e-demo-exit-{}", std::process::id());
    let _guard = Container { id: name.clone() };
    let status = Command::new("docker")
        .args(["run", "--rm", "--name", &name, DEMO_IMAGE, "exit", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("docker run");
    assert_eq!(status.code(), Some(3));

    let crash = Container::serve(&["--crash-after", "1", "--exit-code", "7"]);
    assert_eq!(crash.wait(Duration::from_secs(15)), 7);
    assert!(crash.logs().contains("crashing with exit code 7"));

    let sleeper = Container::start(&[], &["sleep"]);
    // A SIGTERM before the handlers exist would be dropped (PID 1): wait until it says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sleeper.logs().contains("sleeping") {
        assert!(Instant::now() < deadline, "sleep never started: {}", sleeper.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = sleeper.stop(10);
    assert!(took < Duration::from_secs(5), "sleep ignored SIGTERM ({took:?})");
    assert_eq!(sleeper.exit_code(), 0);
}

#[test]
fn demo_ignore_sigterm_needs_sigkill() {
    let stubborn = Container::serve(&["--ignore-sigterm"]);
    assert_eq!(stubborn.get("/healthz").0, 200);
    let took = stubborn.stop(2);
    assert!(took >= Duration::from_secs(2), "stopped after {took:?} despite --ignore-sigterm");
    assert_eq!(stubborn.exit_code(), 137, "{}", stubborn.logs());
    assert!(stubborn.logs().contains("received SIGTERM, ignoring it"));
}

#[test]
fn demo_health_turns_503_after_fail_health_after() {
    let demo = Container::serve(&["--fail-health-after", "1"]);
    let (first, _) = demo.get("/healthz");
    let (_, body) = demo.get("/");
    let info: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let uptime = info["uptime_seconds"].as_f64().expect("uptime");
    // Failing before the second has passed would be a bug; a slow start may miss the 200 window.
    assert!(first == 200 || uptime >= 1.0, "healthz {first} at uptime < {uptime}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = demo.get("/healthz");
        if status == 503 {
            break;
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(Instant::now() < deadline, "/healthz still 200 after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = demo.host_port();
    let failing = check(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(failing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failing.stderr).contains("status 503"));
}
