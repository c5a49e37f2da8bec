//! Task-level cpu and memory limits on a cgroup that holds all of a task's containers
//! (`/ecs/<task id>`, as ECS's agent names it), on cgroup v1 hierarchies. Docker puts each
//! container's cgroup below it (`CgroupParent`), so the task's containers together can use no
//! more than the task's cpu and memory.
//!
//! Where this cannot work (cgroup v2, systemd cgroup driver, no permission), the agent falls back
//! to per-container limits and says so once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Task cgroups as the engine needs them: the host's ([`HostCgroups`]), a recording of what
/// the engine asked ([`RecordingCgroups`], for its unit tests), or none ([`NoCgroups`], for
/// hollow agents, whose tasks have no processes).
pub trait TaskCgroups: Send + Sync + std::fmt::Debug + 'static {
    /// Makes the task's cgroup with its limits; the parent to give Docker, or `None` where
    /// this machine has no cgroups the agent can manage (limits then apply per container).
    fn create(
        &self,
        task_id: &str,
        cpu_units: Option<u32>,
        memory_mib: Option<u32>,
    ) -> std::io::Result<Option<String>>;
    /// Removes the task's cgroup once its containers are gone.
    fn remove(&self, task_id: &str);
}

/// The machine's cgroup v1 hierarchies.
#[derive(Debug, Default)]
pub struct HostCgroups;

impl TaskCgroups for HostCgroups {
    fn create(
        &self,
        task_id: &str,
        cpu_units: Option<u32>,
        memory_mib: Option<u32>,
    ) -> std::io::Result<Option<String>> {
        if !available() {
            return Ok(None);
        }
        create(task_id, cpu_units, memory_mib).map(Some)
    }

    fn remove(&self, task_id: &str) {
        remove(task_id);
    }
}

/// No task cgroups: limits would apply per container (hollow agents run no process at all).
#[derive(Debug, Default)]
pub struct NoCgroups;

impl TaskCgroups for NoCgroups {
    fn create(&self, _: &str, _: Option<u32>, _: Option<u32>) -> std::io::Result<Option<String>> {
        Ok(None)
    }

    fn remove(&self, _: &str) {}
}

/// A task cgroup made: task id, cpu units, memory MiB.
pub type CgroupMade = (String, Option<u32>, Option<u32>);

/// What the engine did with cgroups: the cgroups made, the task ids removed.
#[derive(Debug, Default)]
pub struct RecordingCgroups {
    pub created: Mutex<Vec<CgroupMade>>,
    pub removed: Mutex<Vec<String>>,
}

impl TaskCgroups for RecordingCgroups {
    fn create(
        &self,
        task_id: &str,
        cpu_units: Option<u32>,
        memory_mib: Option<u32>,
    ) -> std::io::Result<Option<String>> {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.push((task_id.to_string(), cpu_units, memory_mib));
        Ok(Some(parent_for(task_id)))
    }

    fn remove(&self, task_id: &str) {
        self.removed.lock().unwrap_or_else(|e| e.into_inner()).push(task_id.to_string());
    }
}

/// Where the cgroup v1 controllers are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CPU_PERIOD_US: u64 = 100_000;

/// The cgroup parent a task's containers go in.
pub fn parent_for(task_id: &str) -> String {
    format!("/ecs/{task_id}")
}

fn controller_dir(root: &Path, controller: &str, task_id: &str) -> PathBuf {
    root.join(controller).join("ecs").join(task_id)
}

/// Whether this machine has the cgroup v1 cpu and memory hierarchies the agent can manage.
pub fn available() -> bool {
    let root = Path::new(CGROUP_ROOT);
    root.join("memory/memory.limit_in_bytes").exists() && root.join("cpu/cpu.cfs_quota_us").exists()
}

/// Creates the task's cgroup with its limits; returns the parent to give Docker.
pub fn create(
    task_id: &str,
    cpu_units: Option<u32>,
    memory_mib: Option<u32>,
) -> std::io::Result<String> {
    create_in(Path::new(CGROUP_ROOT), task_id, cpu_units, memory_mib)
}

fn create_in(
    root: &Path,
    task_id: &str,
    cpu_units: Option<u32>,
    memory_mib: Option<u32>,
) -> std::io::Result<String> {
    let memory = controller_dir(root, "memory", task_id);
    std::fs::create_dir_all(&memory)?;
    if let Some(mib) = memory_mib.filter(|m| *m > 0) {
        std::fs::write(
            memory.join("memory.limit_in_bytes"),
            (u64::from(mib) * 1024 * 1024).to_string(),
        )?;
    }
    let cpu = controller_dir(root, "cpu", task_id);
    std::fs::create_dir_all(&cpu)?;
    if let Some(units) = cpu_units.filter(|u| *u > 0) {
        std::fs::write(cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
        let quota = (u64::from(units) * CPU_PERIOD_US / 1024).max(1000);
        std::fs::write(cpu.join("cpu.cfs_quota_us"), quota.to_string())?;
    }
    Ok(parent_for(task_id))
}

/// Removes the task's cgroup once its containers are gone (a busy one is left for later).
pub fn remove(task_id: &str) {
    for controller in ["memory", "cpu"] {
        let dir = controller_dir(Path::new(CGROUP_ROOT), controller, task_id);
        if dir.exists() {
            if let Err(error) = std::fs::remove_dir(&dir) {
                tracing::debug!(%error, dir = %dir.display(), "task cgroup not removed yet");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_limits_under_ecs_task_id() {
        let root = tempfile::tempdir().expect("tempdir");
        let parent = create_in(root.path(), "abc", Some(512), Some(256)).expect("create");
        assert_eq!(parent, "/ecs/abc");
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).expect(p);
        assert_eq!(read("memory/ecs/abc/memory.limit_in_bytes"), (256 * 1024 * 1024).to_string());
        assert_eq!(read("cpu/ecs/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/ecs/abc/cpu.cfs_period_us"), "100000");
    }
}
