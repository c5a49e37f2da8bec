//! What the agent presents to the server: the join token until its instance is registered,
//! then the instance credential the server issued (kept in the state file, mode 0600). Log
//! shipping and log-group queries need the instance credential: the server accepts them only
//! for the instance's own tasks.

use std::sync::RwLock;

#[derive(Default)]
pub struct AgentCredential {
    join_token: Option<String>,
    instance: RwLock<Option<String>>,
}

impl std::fmt::Debug for AgentCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCredential")
            .field("join_token", &self.join_token.is_some())
            .field("instance", &self.instance().is_some())
            .finish()
    }
}

impl AgentCredential {
    pub fn new(join_token: Option<String>, instance: Option<String>) -> AgentCredential {
        AgentCredential { join_token, instance: RwLock::new(instance) }
    }

    /// The bearer a connection presents: the instance credential once there is one.
    pub fn bearer(&self) -> Option<String> {
        self.instance().or_else(|| self.join_token.clone())
    }

    /// The instance credential, once registered.
    pub fn instance(&self) -> Option<String> {
        self.instance.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_instance(&self, credential: String) {
        *self.instance.write().unwrap_or_else(|e| e.into_inner()) = Some(credential);
    }
}

/// Creates (or truncates) a file only its owner can read: every file the agent keeps holds
/// either its credential or its tasks' data.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    // The mode above applies only to a new file: one left by an older version keeps its own.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(file)
}

/// Creates a directory (and its parents) only its owner can enter.
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn files_and_directories_are_private_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json.tmp");
        std::fs::write(&path, "old").expect("an older file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(create_private(&path).expect("create"));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sub = dir.path().join("buffer");
        std::fs::create_dir(&sub).expect("dir");
        create_private_dir(&sub).expect("private dir");
        let mode = std::fs::metadata(&sub).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn the_instance_credential_replaces_the_join_token() {
        let credential = AgentCredential::new(Some("join".into()), None);
        assert_eq!(credential.bearer().as_deref(), Some("join"));
        assert!(credential.instance().is_none());
        credential.set_instance("instance.default.abc.s3cr3t".into());
        assert_eq!(credential.bearer().as_deref(), Some("instance.default.abc.s3cr3t"));
        assert!(!format!("{credential:?}").contains("s3cr3t"));
    }
}
