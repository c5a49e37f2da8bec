//! Builds the demo image (`flotilla/demo:latest`) locally from a flotilla binary, with no
//! network: a `FROM scratch` image holding the binary, the shared libraries it links (as `ldd`
//! reports them), a minimal `/etc` and `/tmp`, and a shell — the host's static busybox (Debian's
//! `busybox-static`) with its applets in `/bin` — so `CMD-SHELL` health checks and `sh -c`
//! commands work. Design decision 8: nothing is ever pulled.

use std::collections::{BTreeSet, HashMap};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use bollard::models::ImageInspect;
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptions};
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// The tag `flotilla dev` and the tests use.
pub const DEMO_IMAGE: &str = "flotilla/demo:latest";

/// Image label holding the SHA-256 of the binary inside, so a stale image (built from another
/// flotilla binary) is rebuilt by [`ensure_demo_image`] rather than silently reused.
pub const LABEL_BINARY_SHA256: &str = "io.flotilla.demo.binary-sha256";

/// Image label holding the SHA-256 of the busybox inside, or `none` when the host had no static
/// busybox; a shell installed later makes [`ensure_demo_image`] rebuild.
pub const LABEL_SHELL_SHA256: &str = "io.flotilla.demo.shell-sha256";

/// Where the binary sits in the image; the Dockerfile's `ENTRYPOINT` names it.
const BINARY_PATH: &str = "flotilla";

/// Where busybox sits in the image; each applet is a symlink to it in the same directory.
const BUSYBOX_PATH: &str = "bin/busybox";

/// Docker's default search path, written into the image so `sh`, `wget` and `flotilla` are found.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

// Causes are part of each message (not `#[source]`), so a plain `{}` tells the whole story.
#[derive(Debug, thiserror::Error)]
pub enum DemoImageError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("cannot run ldd on {path}: {error}")]
    LddSpawn { path: PathBuf, error: std::io::Error },
    #[error("ldd {path} failed: {message}")]
    Ldd { path: PathBuf, message: String },
    #[error("{binary} needs {library}, which ldd cannot find")]
    MissingLibrary { binary: PathBuf, library: String },
    #[error("cannot write the build context: {0}")]
    Context(std::io::Error),
    #[error("docker: {0}")]
    Docker(bollard::errors::Error),
    #[error("docker build of {tag} failed: {message}")]
    Build { tag: String, message: String },
    #[error("the build context task failed: {0}")]
    Join(tokio::task::JoinError),
    #[error("cannot list the applets of {path}: {message}")]
    Applets { path: PathBuf, message: String },
}

impl From<bollard::errors::Error> for DemoImageError {
    fn from(error: bollard::errors::Error) -> Self {
        DemoImageError::Docker(error)
    }
}

impl From<tokio::task::JoinError> for DemoImageError {
    fn from(error: tokio::task::JoinError) -> Self {
        DemoImageError::Join(error)
    }
}

/// Whether `tag` exists in the local image store.
pub async fn demo_image_present(docker: &Docker, tag: &str) -> Result<bool, DemoImageError> {
    Ok(image_labels(docker, tag).await?.is_some())
}

/// Builds `tag` from `binary` unless an image with that tag, built from the same binary
/// (same SHA-256), is already present. Returns whether it built.
pub async fn ensure_demo_image(
    docker: &Docker,
    binary: &Path,
    tag: &str,
) -> Result<bool, DemoImageError> {
    if let Some(labels) = image_labels(docker, tag).await? {
        let path = binary.to_path_buf();
        let (digest, shell) = tokio::task::spawn_blocking(move || {
            let shell = match static_busybox() {
                Some(busybox) => sha256_file(&busybox)?,
                None => NO_SHELL.to_string(),
            };
            Ok::<_, DemoImageError>((sha256_file(&path)?, shell))
        })
        .await??;
        if labels.get(LABEL_BINARY_SHA256) == Some(&digest)
            && labels.get(LABEL_SHELL_SHA256) == Some(&shell)
        {
            return Ok(false);
        }
    }
    build_demo_image(docker, binary, tag).await?;
    Ok(true)
}

/// Builds `tag` (`FROM scratch`) from `binary` and the shared libraries it links. The client
/// must already speak the daemon's API version (`Docker::negotiate_version`). The image the tag
/// named before is removed if nothing uses it, so rebuilds do not pile up dangling images.
pub async fn build_demo_image(
    docker: &Docker,
    binary: &Path,
    tag: &str,
) -> Result<(), DemoImageError> {
    let previous = image_id(docker, tag).await?;
    build(docker, binary, tag).await?;
    if let Some(previous) = previous {
        if image_id(docker, tag).await?.as_ref() != Some(&previous) {
            // Best effort: Docker refuses while a container (even a stopped one) uses it.
            let options = RemoveImageOptions { force: false, noprune: false };
            let _ = docker.remove_image(&previous, Some(options), None).await;
        }
    }
    Ok(())
}

async fn build(docker: &Docker, binary: &Path, tag: &str) -> Result<(), DemoImageError> {
    let path = binary.to_path_buf();
    let (context, digest) = tokio::task::spawn_blocking(move || build_context(&path)).await??;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream =
        docker.build_image(options, None, Some(bollard::body_full(bytes::Bytes::from(context))));
    let mut last_lines = Vec::new();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(DemoImageError::Build { tag: tag.to_string(), message: error });
            }
            Err(error) => return Err(error.into()),
        };
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(DemoImageError::Build { tag: tag.to_string(), message: detail });
        }
        if let Some(line) = info.stream {
            last_lines.push(line);
        }
    }
    // The classic builder reports some failures only as text in the stream; the tag naming an
    // image of this very binary is the reliable sign of success.
    let labels = image_labels(docker, tag).await?.unwrap_or_default();
    if labels.get(LABEL_BINARY_SHA256) != Some(&digest) {
        return Err(DemoImageError::Build {
            tag: tag.to_string(),
            message: format!("no image was tagged; build output: {}", last_lines.concat().trim()),
        });
    }
    Ok(())
}

async fn inspect(docker: &Docker, tag: &str) -> Result<Option<ImageInspect>, DemoImageError> {
    match docker.inspect_image(tag).await {
        Ok(image) => Ok(Some(image)),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

async fn image_labels(
    docker: &Docker,
    tag: &str,
) -> Result<Option<HashMap<String, String>>, DemoImageError> {
    let image = inspect(docker, tag).await?;
    Ok(image.map(|image| image.config.and_then(|config| config.labels).unwrap_or_default()))
}

async fn image_id(docker: &Docker, tag: &str) -> Result<Option<String>, DemoImageError> {
    Ok(inspect(docker, tag).await?.and_then(|image| image.id))
}

/// The [`LABEL_SHELL_SHA256`] of an image built without a shell.
const NO_SHELL: &str = "none";

/// The host's busybox when it is statically linked (Debian's `busybox-static`), the only kind
/// that runs alone in a `FROM scratch` image: the first `busybox` on `PATH`, else `/bin/busybox`.
pub fn static_busybox() -> Option<PathBuf> {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("busybox")).collect())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/bin/busybox")])
        .find(|candidate| candidate.is_file() && links_nothing(candidate))
}

fn links_nothing(binary: &Path) -> bool {
    matches!(shared_libraries(binary), Ok(libraries) if libraries.is_empty())
}

/// The applets `busybox --list` names (`sh`, `wget`, `ls`, ...).
fn busybox_applets(busybox: &Path) -> Result<Vec<String>, DemoImageError> {
    let failed = |message: String| DemoImageError::Applets { path: busybox.to_path_buf(), message };
    let output = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|error| failed(error.to_string()))?;
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).trim().to_string()));
    }
    let applets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| is_applet_name(name))
        .map(str::to_string)
        .collect();
    if !applets.iter().any(|name| name == "sh") {
        return Err(failed("it has no sh applet".to_string()));
    }
    Ok(applets)
}

/// A plain file name: an applet's link must stay inside `/bin`.
fn is_applet_name(name: &str) -> bool {
    !name.is_empty()
        && name != "busybox"
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '['))
        && name != "."
        && name != ".."
}

fn sha256_file(path: &Path) -> Result<String, DemoImageError> {
    let read_error = |error| DemoImageError::Read { path: path.to_path_buf(), error };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The build context, `Dockerfile` at the top and the image's file system under `rootfs/` (kept
/// apart so the Dockerfile itself never lands in the image), and the binary's SHA-256.
fn build_context(binary: &Path) -> Result<(Vec<u8>, String), DemoImageError> {
    build_context_with(binary, static_busybox().as_deref())
}

fn build_context_with(
    binary: &Path,
    busybox: Option<&Path>,
) -> Result<(Vec<u8>, String), DemoImageError> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|error| DemoImageError::Read { path: path.to_path_buf(), error })
    };
    let binary_bytes = read(binary)?;
    let digest = hex::encode(Sha256::digest(&binary_bytes));
    let libraries = shared_libraries(binary)?;

    let mut context = Context::new();
    context.file(BINARY_PATH, 0o755, &binary_bytes)?;
    for library in &libraries {
        // `read` follows symlinks: the image gets the real file at the path the loader asks for.
        let bytes = read(library)?;
        let inside = library.to_string_lossy();
        context.file(inside.trim_start_matches('/'), 0o755, &bytes)?;
    }
    context.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    context.file("etc/group", 0o644, GROUP.as_bytes())?;
    context.dir("tmp", 0o1777)?;
    // `flotilla demo check ...` reads well in a CMD-SHELL health check.
    context.symlink("bin/flotilla", &format!("/{BINARY_PATH}"))?;
    let shell = match busybox {
        Some(busybox) => {
            let bytes = read(busybox)?;
            context.file(BUSYBOX_PATH, 0o755, &bytes)?;
            for applet in busybox_applets(busybox)? {
                context.symlink(&format!("bin/{applet}"), "busybox")?;
            }
            hex::encode(Sha256::digest(&bytes))
        }
        None => NO_SHELL.to_string(),
    };
    context.dockerfile(&dockerfile(&digest, &shell))?;
    Ok((context.finish()?, digest))
}

fn dockerfile(binary_sha256: &str, shell_sha256: &str) -> String {
    format!(
        "FROM scratch\n\
         COPY rootfs/ /\n\
         ENV PATH={PATH}\n\
         LABEL {LABEL_BINARY_SHA256}=\"{binary_sha256}\" {LABEL_SHELL_SHA256}=\"{shell_sha256}\"\n\
         EXPOSE 8080\n\
         ENTRYPOINT [\"/{BINARY_PATH}\", \"demo\"]\n\
         CMD [\"serve\"]\n"
    )
}

/// A tar of the build context. Entries are owned by root with mtime 0, so the same binary gives
/// the same layer (and Docker's build cache can reuse it).
struct Context {
    tar: tar::Builder<Vec<u8>>,
    /// Directories already written, so each parent gets exactly one entry.
    dirs: BTreeSet<String>,
}

impl Context {
    fn new() -> Context {
        Context { tar: tar::Builder::new(Vec::new()), dirs: BTreeSet::new() }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header
    }

    fn parents(&mut self, path: &str) -> Result<(), DemoImageError> {
        let mut prefix = String::new();
        let mut parts: Vec<&str> = path.split('/').collect();
        parts.pop();
        for part in parts {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if self.dirs.insert(prefix.clone()) {
                let mut header = Self::header(tar::EntryType::Directory, 0, 0o755);
                self.tar
                    .append_data(&mut header, format!("rootfs/{prefix}/"), std::io::empty())
                    .map_err(DemoImageError::Context)?;
            }
        }
        Ok(())
    }

    /// A file at `path` (relative to the image's root).
    fn file(&mut self, path: &str, mode: u32, bytes: &[u8]) -> Result<(), DemoImageError> {
        self.parents(path)?;
        let mut header = Self::header(tar::EntryType::Regular, bytes.len() as u64, mode);
        self.tar
            .append_data(&mut header, format!("rootfs/{path}"), Cursor::new(bytes))
            .map_err(DemoImageError::Context)
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<(), DemoImageError> {
        self.parents(path)?;
        self.dirs.insert(path.to_string());
        let mut header = Self::header(tar::EntryType::Directory, 0, mode);
        self.tar
            .append_data(&mut header, format!("rootfs/{path}/"), std::io::empty())
            .map_err(DemoImageError::Context)
    }

    /// A symbolic link at `path` pointing to `target`.
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), DemoImageError> {
        self.parents(path)?;
        let mut header = Self::header(tar::EntryType::Symlink, 0, 0o777);
        self.tar
            .append_link(&mut header, format!("rootfs/{path}"), target)
            .map_err(DemoImageError::Context)
    }

    fn dockerfile(&mut self, text: &str) -> Result<(), DemoImageError> {
        let mut header = Self::header(tar::EntryType::Regular, text.len() as u64, 0o644);
        self.tar
            .append_data(&mut header, "Dockerfile", text.as_bytes())
            .map_err(DemoImageError::Context)
    }

    fn finish(self) -> Result<Vec<u8>, DemoImageError> {
        self.tar.into_inner().map_err(DemoImageError::Context)
    }
}

/// The shared libraries `binary` needs, the dynamic loader included; empty for a static binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, DemoImageError> {
    let output = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|error| DemoImageError::LddSpawn { path: binary.to_path_buf(), error })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if is_static(&stdout) || is_static(&stderr) {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        let message = format!("{}{}", stdout.trim(), stderr.trim());
        return Err(DemoImageError::Ldd { path: binary.to_path_buf(), message });
    }
    parse_ldd(&stdout)
        .map_err(|library| DemoImageError::MissingLibrary { binary: binary.to_path_buf(), library })
}

fn is_static(ldd_output: &str) -> bool {
    ldd_output.contains("not a dynamic executable") || ldd_output.trim() == "statically linked"
}

/// The absolute paths in `ldd` output, or the name of the first library it could not find.
/// Lines look like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`,
/// `/lib64/ld-linux-x86-64.so.2 (0x...)` (the loader) or `linux-vdso.so.1 (0x...)` (no file).
fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in output.lines().map(str::trim) {
        let target = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(name.trim().to_string());
                }
                target
            }
            None => line,
        };
        let path = target.split(" (").next().unwrap_or(target).trim();
        if path.starts_with('/') && !paths.iter().any(|p: &PathBuf| p == Path::new(path)) {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ldd_output_gives_every_file_and_the_loader() {
        let output = "\tlinux-vdso.so.1 (0x00007ffd1b5f2000)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0af6b70000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0af5e1e000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0af6ba3000)\n";
        let paths = parse_ldd(output).expect("parse");
        assert_eq!(
            paths,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn ldd_missing_library_is_named() {
        let output = "\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        assert_eq!(parse_ldd(output), Err("libfoo.so.1".to_string()));
    }

    #[test]
    fn static_binaries_are_recognised() {
        assert!(is_static("\tnot a dynamic executable\n"));
        assert!(is_static("\tstatically linked\n"));
        assert!(!is_static("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"));
    }

    #[test]
    fn context_holds_binary_libraries_etc_and_tmp() {
        // The test binary itself is a dynamic executable with the same kind of libraries.
        let binary = std::env::current_exe().expect("current exe");
        let (context, digest) = build_context_with(&binary, None).expect("context");
        assert_eq!(digest, sha256_file(&binary).expect("sha256"));
        let entries = entries(context);
        assert!(!entries.contains_key("rootfs/bin/sh"), "no busybox, no shell");
        assert!(dockerfile_of(&entries).contains(&format!("{LABEL_SHELL_SHA256}=\"none\"")));
        let kind_and_mode = |path: &str| (entries[path].0, entries[path].1);
        assert_eq!(kind_and_mode("rootfs/flotilla"), (tar::EntryType::Regular, 0o755));
        assert_eq!(kind_and_mode("rootfs/tmp/"), (tar::EntryType::Directory, 0o1777));
        assert!(entries.contains_key("rootfs/etc/passwd"));
        assert!(entries.contains_key("rootfs/etc/group"));
        assert!(entries.contains_key("Dockerfile"));
        for library in shared_libraries(&binary).expect("ldd") {
            let inside = format!("rootfs{}", library.display());
            assert_eq!(entries[&inside].0, tar::EntryType::Regular, "{inside}");
        }
        assert!(entries.keys().all(|k| k == "Dockerfile" || k.starts_with("rootfs/")));
    }

    type Entries = BTreeMap<String, (tar::EntryType, u32, Option<String>, Vec<u8>)>;

    /// Each entry of a context: kind, mode, link target and contents.
    fn entries(context: Vec<u8>) -> Entries {
        let mut archive = tar::Archive::new(Cursor::new(context));
        let mut entries = BTreeMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let header = entry.header().clone();
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let link = entry.link_name().expect("link").map(|l| l.to_string_lossy().into_owned());
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            entries.insert(path, (header.entry_type(), header.mode().expect("mode"), link, bytes));
        }
        entries
    }

    fn dockerfile_of(entries: &Entries) -> String {
        String::from_utf8(entries["Dockerfile"].3.clone()).expect("utf-8")
    }

    #[test]
    fn context_with_busybox_gives_a_shell_and_its_applets() {
        let Some(busybox) = static_busybox() else {
            // CI installs busybox-static; a developer machine without it builds a shell-less image.
            assert!(std::env::var_os("CI").is_none(), "CI must have busybox-static installed");
            return;
        };
        let binary = std::env::current_exe().expect("current exe");
        let entries = entries(build_context_with(&binary, Some(&busybox)).expect("context").0);
        assert_eq!(entries["rootfs/bin/busybox"].0, tar::EntryType::Regular);
        assert_eq!(entries["rootfs/bin/busybox"].3, std::fs::read(&busybox).expect("read"));
        for applet in ["sh", "wget", "cat"] {
            let (kind, _, link, _) = &entries[&format!("rootfs/bin/{applet}")];
            assert_eq!((kind, link.as_deref()), (&tar::EntryType::Symlink, Some("busybox")));
        }
        assert_eq!(entries["rootfs/bin/flotilla"].2.as_deref(), Some("/flotilla"));
        let shell = sha256_file(&busybox).expect("sha256");
        assert!(dockerfile_of(&entries).contains(&format!("{LABEL_SHELL_SHA256}=\"{shell}\"")));
    }

    #[test]
    fn applet_names_stay_in_bin() {
        assert!(is_applet_name("sh") && is_applet_name("[[") && is_applet_name("run-parts"));
        for name in ["", ".", "..", "../sh", "a/b", "busybox"] {
            assert!(!is_applet_name(name), "{name:?}");
        }
    }

    #[test]
    fn dockerfile_runs_the_demo_server() {
        let text = dockerfile("abc", "def");
        assert!(text.starts_with("FROM scratch\n"));
        assert!(text.contains("ENTRYPOINT [\"/flotilla\", \"demo\"]\n"));
        assert!(text.contains("CMD [\"serve\"]\n"));
        assert!(text.contains("EXPOSE 8080\n"));
        assert!(text.contains(&format!(
            "LABEL {LABEL_BINARY_SHA256}=\"abc\" {LABEL_SHELL_SHA256}=\"def\""
        )));
        assert!(text.contains("ENV PATH=/usr/local/sbin:"));
    }
}
