//! The standard AWS environment and files, read the way an SDK reads them, so the human
//! commands (`flotilla logs`) work in the shell the `aws` CLI works in: `AWS_PROFILE`,
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` and its per-service form.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the environment says, taken once (tests build one from a map).
pub struct AwsEnv {
    vars: HashMap<String, String>,
    home: PathBuf,
}

impl AwsEnv {
    pub fn from_process() -> AwsEnv {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        AwsEnv { vars: std::env::vars().collect(), home }
    }

    #[cfg(test)]
    pub fn from_map(vars: &[(&str, &str)], home: &Path) -> AwsEnv {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AwsEnv { vars, home: home.to_path_buf() }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn profile(&self) -> &str {
        self.var("AWS_PROFILE").unwrap_or("default")
    }

    /// A key of the profile's section of the config file (`[default]` or `[profile NAME]`).
    fn config(&self, key: &str) -> Option<String> {
        let path = self
            .var("AWS_CONFIG_FILE")
            .map_or_else(|| self.home.join(".aws").join("config"), PathBuf::from);
        let section = match self.profile() {
            "default" => "default".to_string(),
            name => format!("profile {name}"),
        };
        ini_value(&path, &section, key)
    }

    /// The endpoint: `explicit` (a flag or FLOTILLA_ENDPOINT), else `AWS_ENDPOINT_URL_<SERVICE>`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else `default`.
    pub fn endpoint(&self, explicit: Option<&str>, service_env: &str, default: &str) -> String {
        explicit
            .map(str::to_string)
            .or_else(|| self.var(&format!("AWS_ENDPOINT_URL_{service_env}")).map(str::to_string))
            .or_else(|| self.var("AWS_ENDPOINT_URL").map(str::to_string))
            .or_else(|| self.config("endpoint_url"))
            .unwrap_or_else(|| default.to_string())
    }

    /// The region: `explicit`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
    /// else `default`.
    pub fn region(&self, explicit: Option<&str>, default: &str) -> String {
        explicit
            .or_else(|| self.var("AWS_REGION"))
            .or_else(|| self.var("AWS_DEFAULT_REGION"))
            .map(str::to_string)
            .or_else(|| self.config("region"))
            .unwrap_or_else(|| default.to_string())
    }

    /// The keys: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the profile in
    /// `AWS_SHARED_CREDENTIALS_FILE`, else the Flotilla server's own credentials file in
    /// `data_dir` (a local server), else the profile in `~/.aws/credentials`.
    pub fn credentials(&self, data_dir: &Path) -> Result<(String, String), String> {
        if let (Some(id), Some(secret)) =
            (self.var("AWS_ACCESS_KEY_ID"), self.var("AWS_SECRET_ACCESS_KEY"))
        {
            return Ok((id.to_string(), secret.to_string()));
        }
        let mut files = Vec::new();
        if let Some(file) = self.var("AWS_SHARED_CREDENTIALS_FILE") {
            files.push((PathBuf::from(file), self.profile().to_string()));
        }
        files.push((data_dir.join("credentials"), "default".to_string()));
        files.push((self.home.join(".aws").join("credentials"), self.profile().to_string()));
        for (path, profile) in &files {
            let id = ini_value(path, profile, "aws_access_key_id");
            let secret = ini_value(path, profile, "aws_secret_access_key");
            if let (Some(id), Some(secret)) = (id, secret) {
                return Ok((id, secret));
            }
        }
        let tried: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        Err(format!(
            "no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and no keys for profile {} in {} \
             (pass the server's --data-dir)",
            self.profile(),
            tried.join(", ")
        ))
    }
}

/// The root key in a Flotilla server's `<data_dir>/credentials`.
pub fn server_keys(data_dir: &Path) -> Option<(String, String)> {
    let path = data_dir.join("credentials");
    Some((
        ini_value(&path, "default", "aws_access_key_id")?,
        ini_value(&path, "default", "aws_secret_access_key")?,
    ))
}

/// `key` in `[section]` of an INI file as AWS writes them (`key = value`, `#`/`;` comments).
fn ini_value(path: &Path, section: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            if name.trim() == key {
                return Some(value.trim().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    #[test]
    fn keys_come_from_the_environment_then_the_files_of_the_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = write(
            dir.path(),
            "shared",
            "[default]\naws_access_key_id = DEF\naws_secret_access_key = s1\n\
             [ci]\n# the pipeline's key\naws_access_key_id = CI\naws_secret_access_key = s2\n",
        );
        let server = dir.path().join("server");
        std::fs::create_dir(&server).expect("mkdir");
        write(
            &server,
            "credentials",
            "[default]\naws_access_key_id=SRV\naws_secret_access_key=s3\n",
        );

        let env = AwsEnv::from_map(
            &[("AWS_ACCESS_KEY_ID", "ENV"), ("AWS_SECRET_ACCESS_KEY", "s0")],
            dir.path(),
        );
        assert_eq!(env.credentials(&server).expect("keys").0, "ENV");
        let env = AwsEnv::from_map(
            &[("AWS_SHARED_CREDENTIALS_FILE", &shared), ("AWS_PROFILE", "ci")],
            dir.path(),
        );
        assert_eq!(env.credentials(&server).expect("keys"), ("CI".into(), "s2".into()));
        let env = AwsEnv::from_map(&[("AWS_SHARED_CREDENTIALS_FILE", &shared)], dir.path());
        assert_eq!(env.credentials(&server).expect("keys").0, "DEF");
        let env = AwsEnv::from_map(&[], dir.path());
        assert_eq!(env.credentials(&server).expect("keys").0, "SRV");
        let error = env.credentials(&dir.path().join("nowhere")).expect_err("no keys anywhere");
        assert!(error.contains("--data-dir"), "{error}");
    }

    #[test]
    fn endpoint_and_region_follow_flags_environment_then_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write(
            dir.path(),
            "config",
            "[default]\nregion = eu-west-1\n[profile ci]\nregion = us-east-2\n\
             endpoint_url = http://127.0.0.1:9000\n",
        );
        let default = "http://127.0.0.1:8720";
        let env = AwsEnv::from_map(&[("AWS_CONFIG_FILE", &config)], dir.path());
        assert_eq!(env.region(None, "us-east-1"), "eu-west-1");
        assert_eq!(env.endpoint(None, "ECS", default), default);
        let env =
            AwsEnv::from_map(&[("AWS_CONFIG_FILE", &config), ("AWS_PROFILE", "ci")], dir.path());
        assert_eq!(env.region(None, "us-east-1"), "us-east-2");
        assert_eq!(env.endpoint(None, "ECS", default), "http://127.0.0.1:9000");
        let env = AwsEnv::from_map(
            &[
                ("AWS_CONFIG_FILE", &config),
                ("AWS_REGION", "ap-south-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
                ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:2"),
            ],
            dir.path(),
        );
        assert_eq!(env.region(None, "us-east-1"), "ap-south-1");
        assert_eq!(env.region(Some("sa-east-1"), "us-east-1"), "sa-east-1");
        assert_eq!(env.endpoint(None, "ECS", default), "http://127.0.0.1:2");
        assert_eq!(env.endpoint(None, "CLOUDWATCH_LOGS", default), "http://127.0.0.1:1");
        assert_eq!(env.endpoint(Some("http://x"), "ECS", default), "http://x");
        let env = AwsEnv::from_map(&[], dir.path());
        assert_eq!(env.region(None, "us-east-1"), "us-east-1");
    }
}
