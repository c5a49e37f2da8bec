//! Placement of a batch of identical tasks: resource fit, then constraints (binding), then
//! strategies (best effort, in order), as ECS does it.
//!
//! Each task picks, among the instances that fit and satisfy the constraints, the one with the
//! smallest key: one score per strategy in order (spread: tasks of the group already on the
//! instance's value; binpack: what the instance has left; random: a seeded draw), then the
//! instance's task count, then its position. A placement changes only the instance it lands
//! on, so candidates are kept ordered and only that one is re-scored (see `Candidates`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::query::{self, Expr};
use crate::{fits_resources, reserve, Demand, InstanceView, Reason};

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

/// A cluster as placement sees it: instance views shared with the caller (not copied), plus
/// copies of the ones changed since (bookings made here, writes not committed yet), plus
/// whether each agent is reachable now (not part of the shared views).
pub struct Cluster<'a> {
    base: &'a [InstanceView],
    /// Per instance: where its copy is in `copies` (`NONE`: unchanged, read `base`).
    copy_of: Vec<u32>,
    copies: Vec<InstanceView>,
    connected: Option<std::sync::Arc<Vec<bool>>>,
}

const NONE: u32 = u32::MAX;

impl<'a> Cluster<'a> {
    /// Reachability as the views' own `agent_connected` says.
    pub fn new(base: &'a [InstanceView]) -> Self {
        Cluster { base, copy_of: vec![NONE; base.len()], copies: Vec::new(), connected: None }
    }

    /// Reachability given per instance, index for index.
    pub fn with_connected(base: &'a [InstanceView], connected: std::sync::Arc<Vec<bool>>) -> Self {
        Cluster {
            base,
            copy_of: vec![NONE; base.len()],
            copies: Vec::new(),
            connected: Some(connected),
        }
    }

    pub fn len(&self) -> usize {
        self.base.len()
    }

    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    pub fn view(&self, i: usize) -> &InstanceView {
        match self.copy_of[i] {
            NONE => &self.base[i],
            n => &self.copies[n as usize],
        }
    }

    /// The instance's view for changing: copied on the first change.
    pub fn view_mut(&mut self, i: usize) -> &mut InstanceView {
        if self.copy_of[i] == NONE {
            self.copy_of[i] = self.copies.len() as u32;
            self.copies.push(self.base[i].clone());
        }
        &mut self.copies[self.copy_of[i] as usize]
    }

    pub fn connected(&self, i: usize) -> bool {
        match &self.connected {
            Some(c) => c.get(i).copied().unwrap_or(false),
            None => self.view(i).agent_connected,
        }
    }

    /// The instance's view with its current reachability, as expressions read it.
    pub fn probe(&self, i: usize) -> Probe<'_> {
        Probe { view: self.view(i), connected: self.connected(i) }
    }
}

/// One instance's facts for the query language, with reachability from the `Cluster`.
pub struct Probe<'v> {
    pub view: &'v InstanceView,
    pub connected: bool,
}

impl query::Facts for Probe<'_> {
    fn agent_connected(&self) -> bool {
        self.connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.view.agent_version.as_deref()
    }
    fn attribute(&self, name: &str) -> Option<&str> {
        self.view.attributes.get(name).map(String::as_str)
    }
    fn ec2_instance_id(&self) -> &str {
        &self.view.ec2_instance_id
    }
    fn registered_at(&self) -> f64 {
        self.view.registered_at
    }
    fn running_tasks_count(&self) -> usize {
        self.view.task_count
    }
    fn task_groups(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.view.groups
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    #[cfg(test)]
    Scan,
    #[cfg(test)]
    Ordered,
}

/// Places the request's tasks, booking each on `cluster` as it goes. One entry per task: the
/// index of its instance, or why no instance would take it (the reason most instances gave).
pub fn place(cluster: &mut Cluster<'_>, request: &Request<'_>) -> Vec<Result<usize, Reason>> {
    place_in(cluster, request, Mode::Auto)
}

fn place_in(
    cluster: &mut Cluster<'_>,
    request: &Request<'_>,
    mode: Mode,
) -> Vec<Result<usize, Reason>> {
    let mut batch = Batch::new(cluster, request, mode);
    (0..request.count).map(|_| batch.place_one(cluster)).collect()
}

/// Whether instance `i` would take one task of the request (DAEMON services).
pub fn check(cluster: &Cluster<'_>, i: usize, request: &Request<'_>) -> Result<(), Reason> {
    if !cluster.connected(i) {
        return Err(Reason::Agent);
    }
    let instance = cluster.view(i);
    fits_resources(instance, request.demand)?;
    for constraint in request.constraints {
        match constraint {
            Constraint::MemberOf(expr) if !query::eval(expr, &cluster.probe(i)) => {
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

/// The order in which a service's tasks should stop when it scales in, as ECS does it: a
/// `binpack` service stops tasks on the instance that has the most of the resource left, a
/// `spread` one where the group has the most tasks (keeping values balanced), `random` at
/// random; strategies apply in order, ties go to the earlier task. `tasks` are (instance
/// position, what the task holds); the answer ranks them, 0 first to stop. Only the first
/// `needed` are ranked (each pick is one pass over the tasks); the rest rank `u32::MAX`.
pub fn scale_in_order(
    cluster: &Cluster<'_>,
    tasks: &[(usize, &Demand)],
    group: &str,
    strategies: &[Strategy],
    needed: usize,
    seed: u64,
) -> Vec<u32> {
    let n = cluster.len();
    let mut remaining_cpu: Vec<i64> = (0..n).map(|i| cluster.view(i).remaining_cpu).collect();
    let mut remaining_memory: Vec<i64> = (0..n).map(|i| cluster.view(i).remaining_memory).collect();
    let mut group_on: Vec<i64> =
        (0..n).map(|i| cluster.view(i).groups.get(group).map_or(0, |c| *c as i64)).collect();
    // Per attribute spread: each instance's value and the group's tasks per value.
    let mut values: Vec<Option<(Vec<usize>, Vec<i64>)>> = strategies
        .iter()
        .map(|s| match s {
            Strategy::Spread(SpreadField::Attribute(name)) => {
                let mut ids: HashMap<Option<&str>, usize> = HashMap::new();
                let value_of: Vec<usize> = (0..n)
                    .map(|i| {
                        let next = ids.len();
                        *ids.entry(cluster.view(i).attributes.get(name).map(String::as_str))
                            .or_insert(next)
                    })
                    .collect();
                let mut counts = vec![0; ids.len()];
                for (i, v) in value_of.iter().enumerate() {
                    counts[*v] += group_on[i];
                }
                Some((value_of, counts))
            }
            _ => None,
        })
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rank = vec![u32::MAX; tasks.len()];
    for pick in 0..needed.min(tasks.len()) {
        let mut best: Option<(Key, usize)> = None;
        for (t, (i, _)) in tasks.iter().enumerate() {
            if rank[t] != u32::MAX {
                continue;
            }
            let mut key = [0; KEY_LEN];
            for (slot, (strategy, value)) in key.iter_mut().zip(strategies.iter().zip(&values)) {
                *slot = match (strategy, value) {
                    (Strategy::Binpack(Resource::Cpu), _) => -remaining_cpu[*i],
                    (Strategy::Binpack(Resource::Memory), _) => -remaining_memory[*i],
                    (Strategy::Spread(_), Some((value_of, counts))) => -counts[value_of[*i]],
                    (Strategy::Spread(_), None) => -group_on[*i],
                    (Strategy::Random, _) => (rng.u64(..) >> 1) as i64,
                };
            }
            key[KEY_LEN - 1] = t as i64;
            if best.as_ref().is_none_or(|(b, _)| key < *b) {
                best = Some((key, t));
            }
        }
        let Some((_, t)) = best else { break };
        rank[t] = pick as u32;
        let (i, demand) = tasks[t];
        remaining_cpu[i] += demand.cpu;
        remaining_memory[i] += demand.memory;
        group_on[i] -= 1;
        for (value_of, counts) in values.iter_mut().flatten() {
            counts[value_of[i]] -= 1;
        }
    }
    rank
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
/// One score per strategy, then the task count, then the position (so keys are unique).
type Key = [i64; KEY_LEN];

/// The candidates of a batch: instances that fit and meet the constraints right now. Only the
/// instance a task lands on changes, so only it is checked again after each placement.
enum Candidates {
    /// Scored afresh for every task: needed for `random` (a new draw each time) and for a
    /// spread over an attribute after the first strategy.
    Scan(Vec<usize>),
    /// Kept in order: one heap per value of the first strategy's attribute (a single heap
    /// when it spreads over no attribute), each ordered by the rest of the key. A task takes
    /// the best head among the values holding the fewest tasks: O(values + log n), not O(n);
    /// building the heaps is O(n), so even a batch of one costs no more than a scan.
    Ordered {
        /// Which heap an instance belongs to.
        set_of: Vec<usize>,
        sets: Vec<BinaryHeap<Reverse<(Key, usize)>>>,
    },
}

struct Batch<'r> {
    request: Request<'r>,
    /// Memberships that change as tasks land (runningTasksCount, task:group).
    dynamic: Vec<&'r Expr>,
    distinct: bool,
    /// Reasons of instances that cannot take a task of this batch, by `Reason::ALL` position.
    dropped: [u32; Reason::ALL.len()],
    scorers: Vec<Scorer>,
    /// Tasks of the group on each instance.
    group_on: Vec<i64>,
    rng: fastrand::Rng,
    candidates: Candidates,
}

fn slot(reason: Reason) -> usize {
    Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

impl<'r> Batch<'r> {
    fn new(cluster: &Cluster<'_>, request: &Request<'r>, mode: Mode) -> Batch<'r> {
        let n = cluster.len();
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
        let group_on: Vec<i64> = (0..n)
            .map(|i| cluster.view(i).groups.get(request.group).map_or(0, |n| *n as i64))
            .collect();
        let scorers: Vec<Scorer> = request
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
                    let value_of: Vec<usize> = (0..n)
                        .map(|i| {
                            let next = ids.len();
                            let value = cluster.view(i).attributes.get(name).map(String::as_str);
                            *ids.entry(value).or_insert(next)
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
        let orderable = scorers.iter().enumerate().all(|(n, s)| match s {
            Scorer::Random => false,
            Scorer::SpreadValue { .. } => n == 0,
            _ => true,
        });
        let ordered = match mode {
            Mode::Auto => orderable,
            #[cfg(test)]
            Mode::Scan => false,
            #[cfg(test)]
            Mode::Ordered => orderable,
        };
        let candidates = if ordered {
            let set_of = match scorers.first() {
                Some(Scorer::SpreadValue { value_of, .. }) => value_of.clone(),
                _ => vec![0; n],
            };
            let sets = vec![BinaryHeap::new(); set_of.iter().max().map_or(1, |m| m + 1)];
            Candidates::Ordered { set_of, sets }
        } else {
            Candidates::Scan(Vec::with_capacity(n))
        };
        let mut batch = Batch {
            request: *request,
            dynamic,
            distinct,
            dropped: [0; Reason::ALL.len()],
            scorers,
            group_on,
            rng: fastrand::Rng::with_seed(request.seed),
            candidates,
        };
        for i in 0..n {
            if !cluster.view(i).active {
                continue; // draining or leaving: not a candidate, not a reason either
            }
            let check = if !cluster.connected(i) {
                Err(Reason::Agent)
            } else if !fixed.iter().all(|e| query::eval(e, &cluster.probe(i))) {
                Err(Reason::MemberOf)
            } else {
                batch.takes_another(cluster, i)
            };
            match check {
                Ok(()) => batch.admit(cluster, i),
                Err(reason) => batch.dropped[slot(reason)] += 1,
            }
        }
        batch
    }

    /// Whether instance `i` can take one more task of the batch. Once it cannot, it never
    /// can again within the batch: it changes only when a task lands on it.
    fn takes_another(&self, cluster: &Cluster<'_>, i: usize) -> Result<(), Reason> {
        fits_resources(cluster.view(i), self.request.demand)?;
        if self.distinct && self.group_on[i] > 0 {
            return Err(Reason::DistinctInstance);
        }
        if !self.dynamic.iter().all(|e| query::eval(e, &cluster.probe(i))) {
            return Err(Reason::MemberOf);
        }
        Ok(())
    }

    /// Makes instance `i` a candidate.
    fn admit(&mut self, cluster: &Cluster<'_>, i: usize) {
        let key = self.key(cluster, i);
        match &mut self.candidates {
            Candidates::Scan(list) => list.push(i),
            Candidates::Ordered { set_of, sets } => {
                sets[set_of[i]].push(Reverse((key, i)));
            }
        }
    }

    /// The key of instance `i`. In ordered mode the first strategy's attribute spread is left
    /// out (it is the same for the whole set, compared across sets instead).
    fn key(&mut self, cluster: &Cluster<'_>, i: usize) -> Key {
        let mut key = [0; KEY_LEN];
        let instance = cluster.view(i);
        let ordered = matches!(self.candidates, Candidates::Ordered { .. });
        for (n, (slot, scorer)) in key.iter_mut().zip(&self.scorers).enumerate() {
            *slot = match scorer {
                Scorer::Binpack(Resource::Cpu) => instance.remaining_cpu,
                Scorer::Binpack(Resource::Memory) => instance.remaining_memory,
                Scorer::SpreadInstance => self.group_on[i],
                Scorer::SpreadValue { .. } if ordered && n == 0 => 0,
                Scorer::SpreadValue { value_of, counts } => counts[value_of[i]],
                Scorer::Random => (self.rng.u64(..) >> 1) as i64,
            };
        }
        key[KEY_LEN - 2] = instance.task_count as i64;
        key[KEY_LEN - 1] = i as i64;
        key
    }

    /// The best candidate for the next task.
    fn best(&mut self, cluster: &Cluster<'_>) -> Option<usize> {
        if let Candidates::Scan(list) = &mut self.candidates {
            // Scoring needs `&mut self` (the random draws): lend the list out meanwhile.
            let list = std::mem::take(list);
            let best = list.iter().map(|i| (self.key(cluster, *i), *i)).min();
            self.candidates = Candidates::Scan(list);
            return best.map(|(_, i)| i);
        }
        let Candidates::Ordered { sets, .. } = &self.candidates else { return None };
        let spread_counts = match self.scorers.first() {
            Some(Scorer::SpreadValue { counts, .. }) => Some(counts),
            _ => None,
        };
        sets.iter()
            .enumerate()
            .filter_map(|(v, set)| {
                let Reverse((key, i)) = set.peek()?;
                Some((spread_counts.map_or(0, |c| c[v]), *key, *i))
            })
            .min()
            .map(|(_, _, i)| i)
    }

    fn place_one(&mut self, cluster: &mut Cluster<'_>) -> Result<usize, Reason> {
        let Some(chosen) = self.best(cluster) else {
            return Err(most_common(&self.dropped));
        };
        if let Candidates::Ordered { set_of, sets } = &mut self.candidates {
            // The chosen instance is its heap's head.
            sets[set_of[chosen]].pop();
        }
        reserve(cluster.view_mut(chosen), self.request.demand, self.request.group);
        self.group_on[chosen] += 1;
        for scorer in &mut self.scorers {
            if let Scorer::SpreadValue { value_of, counts } = scorer {
                counts[value_of[chosen]] += 1;
            }
        }
        match self.takes_another(cluster, chosen) {
            Ok(()) => {
                if matches!(self.candidates, Candidates::Ordered { .. }) {
                    self.admit(cluster, chosen);
                }
            }
            Err(reason) => {
                self.dropped[slot(reason)] += 1;
                if let Candidates::Scan(list) = &mut self.candidates {
                    list.retain(|i| *i != chosen);
                }
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
