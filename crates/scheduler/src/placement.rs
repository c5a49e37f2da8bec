//! Placement of a batch of identical tasks: resource fit, then constraints (binding), then
//! strategies (best effort, in order), as ECS does it.
//!
//! Each task picks, among the instances that fit and satisfy the constraints, the one with the
//! smallest key: one score per strategy in order (spread: tasks of the group already on the
//! instance's value; binpack: what the instance would have left; random: a seeded draw), then
//! the instance's task count, then its position. One pass per task over the live candidates;
//! instances that stop fitting leave the candidate list for the rest of the batch (within a
//! batch resources only shrink), so full clusters get cheaper, not dearer.

use std::collections::HashMap;

use crate::query::{self, Expr};
use crate::{fits, reserve, Demand, InstanceView, Reason};

/// ECS's limits.
pub const MAX_STRATEGIES: usize = 5;
pub const MAX_CONSTRAINTS: usize = 10;

/// The attribute services spread over by default.
pub const ZONE_ATTRIBUTE: &str = "ecs.availability-zone";

#[derive(Debug, Clone)]
pub enum Constraint {
    /// No two tasks of the group on one instance.
    DistinctInstance,
    /// Only instances the expression selects.
    MemberOf(Expr),
}

impl Constraint {
    /// From the API's `type` and `expression`.
    pub fn parse(kind: &str, expression: Option<&str>) -> Result<Constraint, String> {
        match (kind, expression.filter(|e| !e.trim().is_empty())) {
            ("distinctInstance", None) => Ok(Constraint::DistinctInstance),
            ("distinctInstance", Some(_)) => {
                Err("a distinctInstance constraint takes no expression".into())
            }
            ("memberOf", Some(e)) => query::parse(e)
                .map(Constraint::MemberOf)
                .map_err(|e| format!("invalid memberOf expression: {e}")),
            ("memberOf", None) => Err("a memberOf constraint needs an expression".into()),
            (other, _) => Err(format!(
                "unknown placement constraint type '{other}' (use distinctInstance or memberOf)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpreadField {
    /// `instanceId` or `host`.
    Instance,
    Attribute(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Binpack(Resource),
    Spread(SpreadField),
    Random,
}

impl Strategy {
    /// From the API's `type` and `field`.
    pub fn parse(kind: &str, field: Option<&str>) -> Result<Strategy, String> {
        match kind {
            "random" => Ok(Strategy::Random),
            "binpack" => match field.map(str::to_ascii_lowercase).as_deref() {
                Some("cpu") => Ok(Strategy::Binpack(Resource::Cpu)),
                Some("memory") => Ok(Strategy::Binpack(Resource::Memory)),
                _ => Err("a binpack strategy's field must be cpu or memory".into()),
            },
            "spread" => match field {
                Some("instanceId" | "host") => Ok(Strategy::Spread(SpreadField::Instance)),
                Some(f) => match f.strip_prefix("attribute:") {
                    Some(name) if !name.is_empty() => {
                        Ok(Strategy::Spread(SpreadField::Attribute(name.to_string())))
                    }
                    _ => Err(format!(
                        "a spread strategy's field must be instanceId, host or attribute:<name>, not '{f}'"
                    )),
                },
                None => Err("a spread strategy needs a field".into()),
            },
            other => Err(format!(
                "unknown placement strategy type '{other}' (use binpack, spread or random)"
            )),
        }
    }

    /// ECS's default for services: spread over availability zones.
    pub fn service_default() -> Vec<Strategy> {
        vec![Strategy::Spread(SpreadField::Attribute(ZONE_ATTRIBUTE.into()))]
    }

    /// For standalone tasks without a strategy: spread the group over instances.
    pub fn task_default() -> Vec<Strategy> {
        vec![Strategy::Spread(SpreadField::Instance)]
    }
}

/// `count` tasks of one group, each with `demand`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub demand: &'a Demand,
    /// `service:NAME` or the RunTask group (`family:NAME` by default).
    pub group: &'a str,
    pub constraints: &'a [Constraint],
    pub strategies: &'a [Strategy],
    pub count: usize,
    /// Seeds `random`; the same snapshot, request and seed place the same way.
    pub seed: u64,
}

/// Places the request's tasks, booking each on `instances` as it goes. One entry per task: the
/// index of its instance, or why no instance would take it (the reason most instances gave).
pub fn place(instances: &mut [InstanceView], request: &Request<'_>) -> Vec<Result<usize, Reason>> {
    let mut batch = Batch::new(instances, request);
    (0..request.count).map(|_| batch.place_one(instances)).collect()
}

/// Whether one given instance would take one task of the request (DAEMON services, StartTask).
pub fn check(instance: &InstanceView, request: &Request<'_>) -> Result<(), Reason> {
    fits(instance, request.demand)?;
    for constraint in request.constraints {
        match constraint {
            Constraint::MemberOf(expr) if !query::eval(expr, instance) => {
                return Err(Reason::MemberOf)
            }
            Constraint::DistinctInstance
                if instance.groups.get(request.group).is_some_and(|n| *n > 0) =>
            {
                return Err(Reason::DistinctInstance)
            }
            _ => {}
        }
    }
    Ok(())
}

/// How one strategy scores an instance (lower is better).
enum Scorer {
    Binpack(Resource),
    /// Tasks of the group on the instance itself.
    SpreadInstance,
    /// Tasks of the group per attribute value; `value_of[i]` indexes `counts`.
    SpreadValue {
        value_of: Vec<usize>,
        counts: Vec<i64>,
    },
    Random,
}

const KEY_LEN: usize = MAX_STRATEGIES + 2;
type Key = [i64; KEY_LEN];

struct Batch<'r> {
    request: Request<'r>,
    /// Memberships that change as tasks land (runningTasksCount, task:group), checked per task.
    dynamic: Vec<&'r Expr>,
    distinct: bool,
    /// Instances still worth looking at.
    live: Vec<usize>,
    /// Reasons of instances dropped for the whole batch, by `Reason::ALL` position.
    dropped: [u32; Reason::ALL.len()],
    scorers: Vec<Scorer>,
    /// Tasks of the group on each instance.
    group_on: Vec<i64>,
    rng: fastrand::Rng,
}

fn slot(reason: Reason) -> usize {
    Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

impl<'r> Batch<'r> {
    fn new(instances: &[InstanceView], request: &Request<'r>) -> Batch<'r> {
        let mut dynamic = Vec::new();
        let mut fixed = Vec::new();
        let mut distinct = false;
        for constraint in request.constraints {
            match constraint {
                Constraint::DistinctInstance => distinct = true,
                Constraint::MemberOf(e) if e.depends_on_tasks() => dynamic.push(e),
                Constraint::MemberOf(e) => fixed.push(e),
            }
        }
        let mut dropped = [0; Reason::ALL.len()];
        let mut live = Vec::with_capacity(instances.len());
        for (i, instance) in instances.iter().enumerate() {
            if !instance.active {
                continue; // draining or leaving: not a candidate, not a reason either
            }
            if !instance.agent_connected {
                dropped[slot(Reason::Agent)] += 1;
            } else if !fixed.iter().all(|e| query::eval(e, instance)) {
                dropped[slot(Reason::MemberOf)] += 1;
            } else {
                live.push(i);
            }
        }
        let group_on: Vec<i64> = instances
            .iter()
            .map(|i| i.groups.get(request.group).map_or(0, |n| *n as i64))
            .collect();
        let scorers = request
            .strategies
            .iter()
            .take(MAX_STRATEGIES)
            .map(|strategy| match strategy {
                Strategy::Binpack(resource) => Scorer::Binpack(*resource),
                Strategy::Spread(SpreadField::Instance) => Scorer::SpreadInstance,
                Strategy::Random => Scorer::Random,
                Strategy::Spread(SpreadField::Attribute(name)) => {
                    // Instances without the attribute share one value of their own.
                    let mut ids: HashMap<Option<&str>, usize> = HashMap::new();
                    let value_of: Vec<usize> = instances
                        .iter()
                        .map(|i| {
                            let next = ids.len();
                            *ids.entry(i.attributes.get(name).map(String::as_str)).or_insert(next)
                        })
                        .collect();
                    let mut counts = vec![0; ids.len()];
                    for (i, value) in value_of.iter().enumerate() {
                        counts[*value] += group_on[i];
                    }
                    Scorer::SpreadValue { value_of, counts }
                }
            })
            .collect();
        Batch {
            request: *request,
            dynamic,
            distinct,
            live,
            dropped,
            scorers,
            group_on,
            rng: fastrand::Rng::with_seed(request.seed),
        }
    }

    fn key(&mut self, instances: &[InstanceView], i: usize) -> Key {
        let mut key = [0; KEY_LEN];
        let instance = &instances[i];
        for (slot, scorer) in key.iter_mut().zip(&self.scorers) {
            *slot = match scorer {
                Scorer::Binpack(Resource::Cpu) => instance.remaining_cpu,
                Scorer::Binpack(Resource::Memory) => instance.remaining_memory,
                Scorer::SpreadInstance => self.group_on[i],
                Scorer::SpreadValue { value_of, counts } => counts[value_of[i]],
                Scorer::Random => (self.rng.u64(..) >> 1) as i64,
            };
        }
        key[KEY_LEN - 2] = instance.task_count as i64;
        key[KEY_LEN - 1] = i as i64;
        key
    }

    fn place_one(&mut self, instances: &mut [InstanceView]) -> Result<usize, Reason> {
        let mut tally = self.dropped;
        let mut best: Option<(Key, usize)> = None;
        let mut k = 0;
        while k < self.live.len() {
            let i = self.live[k];
            let instance = &instances[i];
            // Within a batch resources only shrink and the group only grows on an instance,
            // so these rejections hold for the rest of the batch.
            let lasting = match fits(instance, self.request.demand) {
                Err(reason) => Some(reason),
                Ok(()) if self.distinct && self.group_on[i] > 0 => Some(Reason::DistinctInstance),
                Ok(()) => None,
            };
            if let Some(reason) = lasting {
                self.dropped[slot(reason)] += 1;
                tally[slot(reason)] += 1;
                self.live.swap_remove(k);
                continue;
            }
            k += 1;
            if !self.dynamic.iter().all(|e| query::eval(e, instance)) {
                tally[slot(Reason::MemberOf)] += 1;
                continue;
            }
            let key = self.key(instances, i);
            if best.as_ref().is_none_or(|(b, _)| key < *b) {
                best = Some((key, i));
            }
        }
        let Some((_, chosen)) = best else {
            return Err(most_common(&tally));
        };
        reserve(&mut instances[chosen], self.request.demand, self.request.group);
        self.group_on[chosen] += 1;
        for scorer in &mut self.scorers {
            if let Scorer::SpreadValue { value_of, counts } = scorer {
                counts[value_of[chosen]] += 1;
            }
        }
        Ok(chosen)
    }
}

/// The reason most instances gave; ties go to the earliest in check order; no instance at all
/// reads as AGENT (nothing could take the task).
fn most_common(tally: &[u32; Reason::ALL.len()]) -> Reason {
    let mut best = (0, Reason::Agent);
    for (reason, n) in Reason::ALL.iter().zip(tally) {
        if *n > best.0 {
            best = (*n, *reason);
        }
    }
    best.1
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
