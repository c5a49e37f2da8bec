//! CPU time of the processes involved in shipping logs — the agent, the server, dockerd (which
//! serves `docker logs` to the agent and to the peer's reader) and this benchmark (which reads
//! the lines back) — from `/proc/<pid>/stat`.

use anyhow::Result;

use crate::harness::clock_ticks;
use crate::stack::cpu_seconds;

/// Where dockerd writes its pid.
const DOCKERD_PID_FILE: &str = "/var/run/docker.pid";

/// The processes to sample.
pub struct Probe {
    agent: u32,
    server: u32,
    dockerd: Option<u32>,
    ticks_per_second: f64,
}

/// CPU seconds used so far (a difference of two samples: used in between).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    pub agent: f64,
    pub server: f64,
    /// `None` when dockerd's pid is not known or its /proc entry unreadable.
    pub dockerd: Option<f64>,
    pub bench: f64,
}

impl std::ops::Sub for CpuSample {
    type Output = CpuSample;

    fn sub(self, earlier: CpuSample) -> CpuSample {
        CpuSample {
            agent: self.agent - earlier.agent,
            server: self.server - earlier.server,
            dockerd: self.dockerd.zip(earlier.dockerd).map(|(now, then)| now - then),
            bench: self.bench - earlier.bench,
        }
    }
}

impl Probe {
    pub fn new(agent: u32, server: u32) -> Probe {
        let ticks_per_second = clock_ticks();
        let dockerd = std::fs::read_to_string(DOCKERD_PID_FILE)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .filter(|&pid| cpu_seconds(pid, ticks_per_second).is_ok());
        Probe { agent, server, dockerd, ticks_per_second }
    }

    pub fn sample(&self) -> Result<CpuSample> {
        let read = |pid| cpu_seconds(pid, self.ticks_per_second);
        Ok(CpuSample {
            agent: read(self.agent)?,
            server: read(self.server)?,
            dockerd: self.dockerd.and_then(|pid| read(pid).ok()),
            bench: read(std::process::id())?,
        })
    }
}
