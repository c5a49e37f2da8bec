//! The agent door (issue 11): the join token admits only new container instances; each gets a
//! credential of its own that no one else can present; agents keep working across a rotation
//! or revocation of the join token; state files are private.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{join, Flotilla};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_token_admits_only_new_instances_each_with_its_own_credential() {
    let f = Flotilla::start();
    let token = f.agent_token();
    let (first_socket, first) = join(&f, &token, None).await.expect("a new instance joins");
    let credential = first.instance_credential.clone().expect("a credential is issued");
    let id = first.container_instance_id.clone();
    assert!(credential.contains(&id) && !credential.contains(&token));
    drop(first_socket);

    // The join token cannot claim the registered instance (today's takeover) ...
    let refused = join(&f, &token, Some(&id)).await.err().expect("a takeover is refused");
    assert!(refused.contains("only its own agent"), "{refused}");
    // ... a forged credential is not one ...
    let forged = format!("{}0", &credential[..credential.len() - 1]);
    let refused = join(&f, &forged, Some(&id)).await.err().expect("a forged credential");
    assert!(refused.contains("401"), "{refused}");
    // ... and a credential registers only its own instance.
    let (_second_socket, second) = join(&f, &token, None).await.expect("another new instance");
    let other_credential = second.instance_credential.expect("its own credential");
    let refused = join(&f, &other_credential, Some(&id)).await.err().expect("not its instance");
    assert!(refused.contains("cannot register as another instance"), "{refused}");

    let (_socket, again) = join(&f, &credential, Some(&id)).await.expect("the agent returns");
    assert_eq!(again.container_instance_id, id);
    assert!(again.instance_credential.is_none(), "no new credential for a known agent");
    let (status, listed) = f.signed_call("ListContainerInstances", b"{}");
    assert_eq!(status, 200);
    assert_eq!(listed["containerInstanceArns"].as_array().map(Vec::len), Some(2), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_agents_survive_rotation_and_revocation_of_the_join_token() {
    let mut f = Flotilla::start();
    let old_token = f.agent_token();
    let (socket, joined) = join(&f, &old_token, None).await.expect("joins");
    drop(socket);
    let credential = joined.instance_credential.expect("credential");
    let id = joined.container_instance_id;

    f.restart_with(&["--rotate-agent-token"]);
    let new_token = f.agent_token();
    assert_ne!(new_token, old_token);
    let refused = join(&f, &old_token, None).await.err().expect("the old token is void");
    assert!(refused.contains("401"), "{refused}");
    join(&f, &credential, Some(&id)).await.expect("a joined agent keeps working");
    join(&f, &new_token, None).await.expect("the new token admits new agents");

    f.restart_with(&["--revoke-agent-token"]);
    assert!(!f.data_dir.join("agent-token").exists());
    let refused = join(&f, &new_token, None).await.err().expect("revoked");
    assert!(refused.contains("401"), "{refused}");
    join(&f, &credential, Some(&id)).await.expect("a joined agent keeps working");
    f.restart_with(&[]);
    assert!(!f.data_dir.join("agent-token").exists(), "a revocation outlives restarts");
    join(&f, &credential, Some(&id)).await.expect("still working");
}

struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(f: &Flotilla, data_dir: &std::path::Path, token_file: bool) -> AgentProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    command.args([
        "agent",
        "--server",
        &f.endpoint(),
        "--cluster",
        "default",
        "--metadata-port",
        "0",
        "--dns",
        "off",
    ]);
    if token_file {
        command.arg("--token-file").arg(f.data_dir.join("agent-token"));
    }
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env("FLOTILLA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    AgentProcess(command.spawn().expect("spawn flotilla agent"))
}

fn connected_instances(f: &Flotilla) -> Vec<String> {
    let (_, listed) =
        f.signed_call("ListContainerInstances", br#"{"filter":"agentConnected == true"}"#);
    listed["containerInstanceArns"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn wait_connected(f: &Flotilla, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connected = connected_instances(f);
        if connected.len() == n {
            return connected;
        }
        assert!(Instant::now() < deadline, "{n} connected agents expected, got {connected:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A real agent keeps its credential in a private state file and comes back with it alone,
/// after the join token was revoked.
#[test]
fn a_real_agent_keeps_its_credential_privately_and_needs_no_token_to_return() {
    crate::support::ensure_demo_image();
    let mut f = Flotilla::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = start_agent(&f, dir.path(), true);
    let first = wait_connected(&f, 1);
    drop(agent);

    let state = dir.path().join("agent-state.json");
    let text = std::fs::read_to_string(&state).expect("state file");
    assert!(text.contains("\"instance_credential\":\"instance.default."), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state file holds a credential");
    }

    f.restart_with(&["--revoke-agent-token"]);
    let _agent = start_agent(&f, dir.path(), false);
    assert_eq!(wait_connected(&f, 1), first, "the same instance, back without a join token");
}
