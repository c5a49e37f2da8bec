//! Capacity providers: a self-managed one is a named group of agents — the agents started with
//! `--capacity-provider GROUP`, where GROUP is the name part of its auto scaling group's ARN (or
//! the provider's own name) — and FARGATE and FARGATE_SPOT exist by name. A launch's strategy
//! (base, then weight) decides how many tasks each provider gets.

use serde::{Deserialize, Serialize};

use crate::cluster::CapacityProviderStrategyItem;
use crate::common::Tag;
use crate::error::ApiError;
use crate::status::CapacityProviderStatus;

/// The attribute an agent of a group announces (`flotilla agent --capacity-provider GROUP`).
pub const GROUP_ATTRIBUTE: &str = "flotilla.auto-scaling-group";

/// The providers every account has, which need no creation and run Fargate tasks.
pub const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// Whether tasks launched with `launch_type` and `strategy` run on the Fargate capacity: a
/// strategy decides when there is one (FARGATE, FARGATE_SPOT), else the launch type.
pub fn runs_on_fargate(
    launch_type: Option<&str>,
    strategy: &[CapacityProviderStrategyItem],
) -> bool {
    match strategy.is_empty() {
        false => is_fargate_strategy(strategy),
        true => launch_type == Some("FARGATE"),
    }
}

/// Whether a strategy names FARGATE or FARGATE_SPOT (a strategy is all Fargate or none).
pub fn is_fargate_strategy(strategy: &[CapacityProviderStrategyItem]) -> bool {
    strategy.iter().any(|i| FARGATE_PROVIDERS.contains(&i.capacity_provider.as_str()))
}

/// At most this many providers in a strategy (ECS's limit).
pub const MAX_STRATEGY_ITEMS: usize = 20;

/// A capacity provider as DescribeCapacityProviders answers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProvider {
    pub capacity_provider_arn: String,
    pub name: String,
    pub status: CapacityProviderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling_group_provider: Option<AutoScalingGroupProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingGroupProvider {
    pub auto_scaling_group_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_scaling: Option<ManagedScaling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_termination_protection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_draining: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedScaling {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_capacity: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_scaling_step_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_scaling_step_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_warmup_period: Option<i32>,
}

impl CapacityProvider {
    /// The group its agents join: the name part of the auto scaling group's ARN
    /// (`...:autoScalingGroupName/GROUP`, or the ARN's last `/` part).
    pub fn group(&self) -> Option<&str> {
        let arn = &self.auto_scaling_group_provider.as_ref()?.auto_scaling_group_arn;
        Some(group_of(arn))
    }

    /// Whether an agent announcing `group` is one of this provider's: it names the group or
    /// the provider itself.
    pub fn has_member(&self, group: &str) -> bool {
        self.name == group || self.group() == Some(group)
    }

    /// FARGATE and FARGATE_SPOT, as ECS describes them.
    pub fn fargate(arn: String, name: &str) -> CapacityProvider {
        CapacityProvider {
            capacity_provider_arn: arn,
            name: name.to_string(),
            status: CapacityProviderStatus::Active,
            provider_type: Some(name.to_string()),
            ..CapacityProvider::default()
        }
    }
}

/// The group named by an auto scaling group's ARN.
pub fn group_of(arn: &str) -> &str {
    match arn.split_once("autoScalingGroupName/") {
        Some((_, name)) => name,
        None => arn.rsplit('/').next().unwrap_or(arn),
    }
}

/// A capacity provider's name: 1 to 255 letters, digits, hyphens and underscores, not starting
/// with `aws`, `ecs` or `fargate` (ECS reserves them).
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ApiError::invalid(format!(
            "The capacity provider name '{name}' must be 1 to 255 letters, digits, hyphens and \
             underscores."
        )));
    }
    let lower = name.to_ascii_lowercase();
    if ["aws", "ecs", "fargate"].iter().any(|p| lower.starts_with(p)) {
        return Err(ApiError::invalid(format!(
            "The capacity provider name '{name}' cannot begin with \"aws\", \"ecs\" or \"fargate\"."
        )));
    }
    Ok(())
}

/// A strategy's shape as ECS checks it: weights 0–1000, bases 0–100000, at most one base, no
/// provider twice, at least one weight above 0.
pub fn validate_strategy(strategy: &[CapacityProviderStrategyItem]) -> Result<(), ApiError> {
    if strategy.len() > MAX_STRATEGY_ITEMS {
        return Err(ApiError::invalid(format!(
            "A capacity provider strategy can have at most {MAX_STRATEGY_ITEMS} capacity providers."
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for item in strategy {
        if !seen.insert(item.capacity_provider.as_str()) {
            return Err(ApiError::invalid(format!(
                "The capacity provider {} appears more than once in the strategy.",
                item.capacity_provider
            )));
        }
        if !(0..=1000).contains(&item.weight.unwrap_or(0)) {
            return Err(ApiError::invalid("The weight of a capacity provider must be 0 to 1000."));
        }
        if !(0..=100_000).contains(&item.base.unwrap_or(0)) {
            return Err(ApiError::invalid("The base of a capacity provider must be 0 to 100000."));
        }
    }
    if strategy.iter().filter(|i| i.base.unwrap_or(0) > 0).count() > 1 {
        return Err(ApiError::invalid(
            "Only one capacity provider in a strategy can have a base defined.",
        ));
    }
    if !strategy.is_empty() && strategy.iter().all(|i| i.weight.unwrap_or(0) == 0) {
        return Err(ApiError::invalid(
            "At least one capacity provider in a strategy must have a weight greater than 0.",
        ));
    }
    Ok(())
}

/// `items` (one per new task) dealt out by [`share`]: for each strategy entry that gets any,
/// its index and its items, in strategy order.
pub fn share_out<'a, T>(
    strategy: &[CapacityProviderStrategyItem],
    already: &[usize],
    items: &'a [T],
) -> Vec<(usize, Vec<&'a T>)> {
    let picks = share(strategy, already, items.len());
    (0..strategy.len())
        .map(|n| (n, picks.iter().zip(items).filter(|(p, _)| **p == n).map(|(_, t)| t).collect()))
        .filter(|(_, mine): &(usize, Vec<&T>)| !mine.is_empty())
        .collect()
}

/// How `count` tasks are shared by a strategy's providers, as ECS shares them: the provider
/// with a base gets tasks first up to its base, the rest go by weight — each next task to the
/// provider furthest below its weighted share (ties to the earlier one). `already[i]` counts
/// tasks provider `i` has now (a service's running tasks), so a service keeps its shares as it
/// scales. Returns the provider index of each new task.
pub fn share(
    strategy: &[CapacityProviderStrategyItem],
    already: &[usize],
    count: usize,
) -> Vec<usize> {
    let mut held: Vec<usize> =
        (0..strategy.len()).map(|i| already.get(i).copied().unwrap_or(0)).collect();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let below_base = (0..strategy.len())
            .find(|&i| held[i] < usize::try_from(strategy[i].base.unwrap_or(0)).unwrap_or(0));
        let next = below_base.or_else(|| {
            let weights: Vec<f64> =
                strategy.iter().map(|s| f64::from(s.weight.unwrap_or(0))).collect();
            let total_weight: f64 = weights.iter().sum();
            if total_weight <= 0.0 {
                return None;
            }
            // Tasks beyond the bases, shared by weight.
            let bases: Vec<usize> = strategy
                .iter()
                .map(|s| usize::try_from(s.base.unwrap_or(0)).unwrap_or(0))
                .collect();
            let beyond: usize =
                held.iter().zip(&bases).map(|(h, b)| h.saturating_sub(*b)).sum::<usize>() + 1;
            (0..strategy.len())
                .filter(|&i| weights[i] > 0.0)
                .map(|i| {
                    let wanted = beyond as f64 * weights[i] / total_weight;
                    (i, wanted - held[i].saturating_sub(bases[i]) as f64)
                })
                .fold(None, |best: Option<(usize, f64)>, (i, deficit)| match best {
                    Some((_, d)) if d >= deficit => best,
                    _ => Some((i, deficit)),
                })
                .map(|(i, _)| i)
        });
        match next {
            Some(i) => {
                held[i] += 1;
                out.push(i);
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, base: i32, weight: i32) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: name.into(),
            base: Some(base),
            weight: Some(weight),
        }
    }

    fn counts(picks: &[usize], n: usize) -> Vec<usize> {
        (0..n).map(|i| picks.iter().filter(|p| **p == i).count()).collect()
    }

    #[test]
    fn base_first_then_weight() {
        // ECS's documented example: base 2 on A, weights 1 (A) and 1 (B): 6 tasks → A 4, B 2.
        let strategy = [item("a", 2, 1), item("b", 0, 1)];
        assert_eq!(counts(&share(&strategy, &[], 6), 2), [4, 2]);
        // Weights 1:3 over 8 tasks → 2 and 6.
        let strategy = [item("a", 0, 1), item("b", 0, 3)];
        assert_eq!(counts(&share(&strategy, &[], 8), 2), [2, 6]);
        // A zero weight gets only its base.
        let strategy = [item("a", 3, 0), item("b", 0, 1)];
        assert_eq!(counts(&share(&strategy, &[], 10), 2), [3, 7]);
    }

    #[test]
    fn shares_hold_as_a_service_grows() {
        let strategy = [item("a", 1, 1), item("b", 0, 2)];
        let first = share(&strategy, &[], 4);
        let held = counts(&first, 2);
        let more = share(&strategy, &held, 3);
        assert_eq!(counts(&[first, more].concat(), 2), [3, 4]);
    }

    #[test]
    fn shares_are_dealt_out_in_strategy_order() {
        // Base 1 on b, weights 1:1: five tasks → a gets 2, b gets 3; c (weight 0) gets none.
        let strategy = [item("a", 0, 1), item("b", 1, 1), item("c", 0, 0)];
        let tasks = ["t1", "t2", "t3", "t4", "t5"];
        let dealt = share_out(&strategy, &[], &tasks);
        let sizes: Vec<(usize, usize)> = dealt.iter().map(|(n, mine)| (*n, mine.len())).collect();
        assert_eq!(sizes, [(0, 2), (1, 3)]);
        let mut all: Vec<&str> = dealt.into_iter().flat_map(|(_, mine)| mine).copied().collect();
        all.sort_unstable();
        assert_eq!(all, tasks, "every task goes to exactly one provider");
    }

    #[test]
    fn strategies_are_checked_as_ecs_checks_them() {
        assert!(validate_strategy(&[item("a", 1, 1), item("b", 1, 1)]).is_err(), "two bases");
        assert!(validate_strategy(&[item("a", 0, 0)]).is_err(), "no weight");
        assert!(validate_strategy(&[item("a", 0, 1), item("a", 0, 1)]).is_err(), "twice");
        assert!(validate_strategy(&[item("a", 0, 1001)]).is_err(), "weight too big");
        assert!(validate_strategy(&[item("a", 5, 1), item("b", 0, 2)]).is_ok());
    }

    #[test]
    fn groups_come_from_the_auto_scaling_group_arn() {
        let arn = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0a1b:autoScalingGroupName/web-asg";
        assert_eq!(group_of(arn), "web-asg");
        assert_eq!(group_of("web-asg"), "web-asg");
        assert!(validate_name("ecs-x").is_err() && validate_name("Fargate1").is_err());
        assert!(validate_name("web_spot-1").is_ok() && validate_name("a b").is_err());
    }
}
