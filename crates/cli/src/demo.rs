//! `flotilla demo ...`: the demo workload that runs inside `flotilla/demo:latest` (an HTTP server
//! with knobs to crash, fail health checks or burn CPU; `exit`, `sleep`, and `check`, the health
//! probe, since the image has no curl), `build-image`, which builds that image offline, and any
//! other program run in place of `flotilla demo` (the image's `sh`, `wget`, ...).

mod http_get;
mod lines;
mod serve;

use std::ffi::OsString;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use flotilla_agent::demo_image::{self, DEMO_IMAGE};

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Subcommand, Debug)]
enum DemoCommand {
    /// HTTP server: `GET /` (who am I), `GET /healthz`, `GET /burn?ms=N`.
    Serve(ServeArgs),
    /// Exit with CODE, after an optional delay.
    Exit(ExitArgs),
    /// Sleep SECS seconds (forever if omitted); exit 0 on SIGTERM.
    Sleep(SleepArgs),
    /// HTTP GET URL (plain http); exit 0 on a 2xx status, else 1. The image's health probe.
    Check(CheckArgs),
    /// Write COUNT numbered lines (`line 1`, ...) to stdout, fast or at --rate.
    Lines(lines::LinesArgs),
    /// GET the task metadata endpoint ($ECS_CONTAINER_METADATA_URI_V4 + PATH) and print it.
    Metadata(MetadataArgs),
    /// Build the demo image from this binary, offline (`FROM scratch`).
    BuildImage(BuildImageArgs),
    /// Any other PROGRAM [ARGS...] is executed in place of this process, so a task's
    /// `command: ["sh", "-c", "..."]` runs the image's shell behind the `/flotilla demo` entrypoint.
    #[command(external_subcommand)]
    Program(Vec<OsString>),
}

#[derive(Args, Debug, PartialEq)]
struct MetadataArgs {
    /// `""` (the container), `/task`, `/stats`, `/task/stats`.
    #[arg(default_value = "")]
    path: String,
    /// Another base URI than $ECS_CONTAINER_METADATA_URI_V4.
    #[arg(long)]
    uri: Option<String>,
    /// Keep running after printing (until SIGTERM).
    #[arg(long)]
    then_sleep: bool,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub(crate) struct ServeArgs {
    /// Port to listen on (all interfaces).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// `/healthz` answers 503 once this many seconds have passed since start.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub fail_health_after: Option<Duration>,
    /// Exit with --exit-code this many seconds after start.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub crash_after: Option<Duration>,
    /// Exit code for --crash-after.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(0..=255))]
    pub exit_code: i32,
    /// Keep running on SIGTERM (and SIGINT), so that only SIGKILL stops the server.
    #[arg(long)]
    pub ignore_sigterm: bool,
}

#[derive(Args, Debug, PartialEq)]
struct ExitArgs {
    /// Exit code.
    #[arg(value_parser = clap::value_parser!(i32).range(0..=255))]
    code: i32,
    /// Seconds to wait before exiting.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "0")]
    after: Duration,
}

#[derive(Args, Debug, PartialEq)]
struct SleepArgs {
    /// Seconds to sleep [default: forever].
    #[arg(value_name = "SECS", value_parser = parse_secs)]
    secs: Option<Duration>,
}

#[derive(Args, Debug, PartialEq)]
struct CheckArgs {
    /// `http://host[:port][/path]`.
    url: String,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "5")]
    timeout: Duration,
}

#[derive(Args, Debug, PartialEq)]
struct BuildImageArgs {
    /// Image tag.
    #[arg(long, default_value = DEMO_IMAGE)]
    tag: String,
    /// Docker Engine address: `unix:///path/docker.sock`, `tcp://host:port` or `http://host:port`
    /// [default: $DOCKER_HOST, else the local socket].
    #[arg(long, value_name = "URL")]
    docker_host: Option<String>,
    /// Build even if an image built from this binary is already tagged.
    #[arg(long)]
    force: bool,
}

/// Replaces this process with `words[0]` (looked up on `PATH`) run with the rest as arguments;
/// returns only when that fails.
fn exec(words: &[OsString]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let (program, args) = words.split_first().context("no program to run")?;
    let error = std::process::Command::new(program).args(args).exec();
    anyhow::bail!("cannot run {}: {error}", program.to_string_lossy())
}

/// Seconds as a non-negative decimal number (`1`, `0.5`).
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 =
        text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a valid duration"))
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    match args.command {
        DemoCommand::Serve(args) => with_runtime(serve::run(args)),
        DemoCommand::Exit(args) => {
            std::thread::sleep(args.after);
            println!("exiting with code {}", args.code);
            std::process::exit(args.code)
        }
        DemoCommand::Sleep(args) => with_runtime(sleep(args.secs)),
        DemoCommand::Program(words) => exec(&words),
        DemoCommand::Check(args) => check(&args),
        DemoCommand::Lines(args) => {
            lines::write(&args)?;
            if args.then_sleep {
                with_runtime(sleep(None))?;
            }
            Ok(())
        }
        DemoCommand::Metadata(args) => {
            let printed = metadata(&args);
            if args.then_sleep {
                with_runtime(sleep(None))?;
            }
            printed
        }
        DemoCommand::BuildImage(args) => with_runtime(build_image(args)),
    }
}

/// The binary's `main` is synchronous; each demo command gets a small runtime of its own.
fn with_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(work);
    // A `/burn` still running on the blocking pool must not hold up a SIGTERM exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn sleep(secs: Option<Duration>) -> anyhow::Result<()> {
    let mut signals = serve::Signals::new()?;
    // Said only once the handlers are in place: as PID 1 in a container, a SIGTERM that comes
    // earlier is dropped by the kernel.
    println!("sleeping");
    let nap = async {
        match secs {
            Some(secs) => tokio::time::sleep(secs).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = nap => {}
        name = signals.next() => println!("received {name}, exiting"),
    }
    Ok(())
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let response =
        http_get::get(&args.url, args.timeout).with_context(|| format!("GET {}", args.url))?;
    if (200..300).contains(&response.status) {
        println!("GET {}: {}", args.url, response.status);
        Ok(())
    } else {
        anyhow::bail!("GET {}: status {}", args.url, response.status)
    }
}

/// Prints the answer of the metadata endpoint: the body on 2xx, else the status (and fails).
fn metadata(args: &MetadataArgs) -> anyhow::Result<()> {
    let base = match &args.uri {
        Some(uri) => uri.clone(),
        None => std::env::var("ECS_CONTAINER_METADATA_URI_V4")
            .context("ECS_CONTAINER_METADATA_URI_V4 is not set")?,
    };
    let url = format!("{base}{}", args.path);
    let response =
        http_get::get(&url, Duration::from_secs(5)).with_context(|| format!("GET {url}"))?;
    let body = String::from_utf8_lossy(&response.body);
    if (200..300).contains(&response.status) {
        println!("{body}");
        Ok(())
    } else {
        println!("metadata status {}: {body}", response.status);
        anyhow::bail!("GET {url}: status {}", response.status)
    }
}

async fn build_image(args: BuildImageArgs) -> anyhow::Result<()> {
    let docker = connect(args.docker_host.as_deref()).await?;
    let binary = std::env::current_exe().context("cannot find the running flotilla binary")?;
    let built = if args.force {
        demo_image::build_demo_image(&docker, &binary, &args.tag).await?;
        true
    } else {
        demo_image::ensure_demo_image(&docker, &binary, &args.tag).await?
    };
    let image = docker.inspect_image(&args.tag).await.context("cannot inspect the built image")?;
    let size = image.size.unwrap_or(0);
    let id = image.id.unwrap_or_default();
    let verb = if built { "built" } else { "up to date:" };
    println!("{verb} {} ({id}, {:.1} MB)", args.tag, size as f64 / 1_000_000.0);
    Ok(())
}

async fn connect(host: Option<&str>) -> anyhow::Result<bollard::Docker> {
    const TIMEOUT_SECS: u64 = 120;
    let docker = match host {
        None => bollard::Docker::connect_with_local_defaults(),
        Some(url) if url.starts_with("unix://") => {
            bollard::Docker::connect_with_unix(url, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        }
        Some(url) if url.starts_with("tcp://") || url.starts_with("http://") => {
            bollard::Docker::connect_with_http(url, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        }
        Some(url) => anyhow::bail!(
            "--docker-host {url:?}: expected unix://PATH, tcp://HOST:PORT or http://HOST:PORT"
        ),
    }
    .context("cannot connect to Docker")?;
    // Older engines refuse the client's newest API version; settle on one both speak.
    docker.negotiate_version().await.context("cannot reach the Docker Engine")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        demo: DemoArgs,
    }

    fn parse(args: &[&str]) -> Result<DemoCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("demo").chain(args.iter().copied()))
            .map(|cli| cli.demo.command)
    }

    #[test]
    fn serve_defaults_and_knobs() {
        // PORT from the environment would change the default; no test sets it.
        let Ok(DemoCommand::Serve(args)) = parse(&["serve"]) else { panic!("serve") };
        assert_eq!(
            args,
            ServeArgs {
                port: 8080,
                fail_health_after: None,
                crash_after: None,
                exit_code: 1,
                ignore_sigterm: false
            }
        );
        let Ok(DemoCommand::Serve(args)) = parse(&[
            "serve",
            "--port",
            "9000",
            "--fail-health-after",
            "1.5",
            "--crash-after",
            "30",
            "--exit-code",
            "42",
            "--ignore-sigterm",
        ]) else {
            panic!("serve with knobs")
        };
        assert_eq!(args.port, 9000);
        assert_eq!(args.fail_health_after, Some(Duration::from_millis(1500)));
        assert_eq!(args.crash_after, Some(Duration::from_secs(30)));
        assert_eq!(args.exit_code, 42);
        assert!(args.ignore_sigterm);
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["serve", "--port", "70000"][..],
            &["serve", "--crash-after", "-1"],
            &["serve", "--fail-health-after", "soon"],
            &["serve", "--exit-code", "256"],
            &["exit"],
            &["exit", "300"],
            &["check"],
            &["sleep", "x"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn any_other_word_is_a_program_to_run() {
        let Ok(DemoCommand::Program(words)) = parse(&["sh", "-c", "echo hi && exit 3"]) else {
            panic!("program")
        };
        assert_eq!(words, ["sh", "-c", "echo hi && exit 3"]);
        let error = exec(&["/no/such/program".into()]).expect_err("nothing to run");
        assert!(error.to_string().starts_with("cannot run /no/such/program: "), "{error}");
    }

    #[test]
    fn exit_sleep_check_and_build_image() {
        let Ok(DemoCommand::Exit(args)) = parse(&["exit", "3"]) else { panic!("exit") };
        assert_eq!(args, ExitArgs { code: 3, after: Duration::ZERO });
        let Ok(DemoCommand::Exit(args)) = parse(&["exit", "0", "--after", "0.25"]) else {
            panic!("exit --after")
        };
        assert_eq!(args, ExitArgs { code: 0, after: Duration::from_millis(250) });
        let Ok(DemoCommand::Sleep(args)) = parse(&["sleep"]) else { panic!("sleep") };
        assert_eq!(args.secs, None);
        let Ok(DemoCommand::Sleep(args)) = parse(&["sleep", "2"]) else { panic!("sleep 2") };
        assert_eq!(args.secs, Some(Duration::from_secs(2)));
        let Ok(DemoCommand::Check(args)) = parse(&["check", "http://127.0.0.1:8080/healthz"])
        else {
            panic!("check")
        };
        assert_eq!(args.timeout, Duration::from_secs(5));
        let Ok(DemoCommand::BuildImage(args)) = parse(&["build-image"]) else {
            panic!("build-image")
        };
        assert_eq!(
            args,
            BuildImageArgs { tag: DEMO_IMAGE.into(), docker_host: None, force: false }
        );
        let Ok(DemoCommand::BuildImage(args)) = parse(&[
            "build-image",
            "--tag",
            "x/y:z",
            "--docker-host",
            "unix:///run/docker.sock",
            "--force",
        ]) else {
            panic!("build-image with flags")
        };
        assert_eq!(args.tag, "x/y:z");
        assert_eq!(args.docker_host.as_deref(), Some("unix:///run/docker.sock"));
        assert!(args.force);
    }
}
