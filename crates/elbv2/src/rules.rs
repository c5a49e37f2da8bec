//! Listener rules: conditions (path-pattern, host-header, http-header, query-string,
//! http-request-method, source-ip) and actions (forward with weights, fixed-response,
//! redirect) checked as ELB checks them; CreateRule, DescribeRules, ModifyRule, DeleteRule and
//! SetRulePriorities. A listener's default actions are its default rule.

use flotilla_api::{ApiError, ErrorCode};

use crate::model::{Action, ActionKind, Condition, LoadBalancerType, Protocol, Rule, State};
use crate::{new_id, page, tags, validation, wire, App};

/// ELB's limits: condition values per rule, actions per rule, target groups per forward.
const MAX_CONDITION_VALUES: usize = 5;
const MAX_ACTIONS: usize = 5;
const MAX_FORWARD_GROUPS: usize = 5;

/// Request actions checked against `state` for a listener of load balancer `lb_arn`.
pub fn actions(
    state: &State,
    lb_arn: &str,
    input: Vec<wire::Action>,
) -> Result<Vec<Action>, ApiError> {
    if input.is_empty() {
        return Err(validation("At least one action must be specified"));
    }
    if input.len() > MAX_ACTIONS {
        return Err(ApiError::new(
            ErrorCode::TooManyActions,
            format!("A rule can have at most {MAX_ACTIONS} actions"),
        ));
    }
    let mut out = Vec::new();
    for action in input {
        let order = match action.order {
            None => None,
            Some(o) if (1..=50000).contains(&o) => Some(o as u32),
            Some(o) => {
                return Err(validation(format!("Action order '{o}' must be between 1 and 50000")))
            }
        };
        let kind = match action.r#type.as_str() {
            "forward" => forward(state, lb_arn, action.target_group_arn, action.forward_config)?,
            "fixed-response" => fixed_response(action.fixed_response_config)?,
            "redirect" => redirect(action.redirect_config)?,
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidLoadBalancerAction,
                    format!("Action type '{other}' is not valid"),
                ))
            }
        };
        out.push(Action { order, kind });
    }
    // Forward, fixed-response and redirect all end a request: a rule has exactly one.
    if out.len() > 1 {
        return Err(ApiError::new(
            ErrorCode::InvalidLoadBalancerAction,
            "A rule can only have one of the following actions: 'forward', 'redirect', 'fixed-response'",
        ));
    }
    check_for_load_balancer(state, lb_arn, &out)?;
    Ok(out)
}

/// A network load balancer forwards connections to one TCP target group; an application load
/// balancer's groups speak HTTP.
fn check_for_load_balancer(
    state: &State,
    lb_arn: &str,
    actions: &[Action],
) -> Result<(), ApiError> {
    let Some(lb) = state.load_balancers.get(lb_arn) else { return Ok(()) };
    let speaks = lb.kind.protocol();
    for action in actions {
        match &action.kind {
            ActionKind::Forward { groups, .. } => {
                if lb.kind == LoadBalancerType::Network && groups.len() > 1 {
                    return Err(validation(
                        "A network load balancer's forward action can have only one target group",
                    ));
                }
                for (arn, _) in groups {
                    let Some(group) = state.target_groups.get(arn) else { continue };
                    if group.protocol != speaks {
                        return Err(ApiError::new(
                            ErrorCode::IncompatibleProtocols,
                            format!(
                                "The target group '{arn}' has the protocol '{}', which is incompatible with the {} load balancer's protocol '{}'",
                                group.protocol.as_str(),
                                lb.kind.as_str(),
                                speaks.as_str()
                            ),
                        ));
                    }
                }
            }
            _ if lb.kind == LoadBalancerType::Network => {
                return Err(ApiError::new(
                    ErrorCode::InvalidLoadBalancerAction,
                    "A network load balancer's listeners can only forward",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn forward(
    state: &State,
    lb_arn: &str,
    single: Option<String>,
    config: Option<wire::ForwardActionConfig>,
) -> Result<ActionKind, ApiError> {
    let listed: Vec<(String, u32)> = match config.and_then(|c| c.target_groups) {
        Some(tuples) => tuples
            .into_iter()
            .map(|t| {
                let arn = t.target_group_arn.ok_or_else(|| {
                    validation("A target group ARN must be specified in ForwardConfig")
                })?;
                let weight = match t.weight {
                    None => 1,
                    Some(w) if (0..=999).contains(&w) => w as u32,
                    Some(w) => {
                        return Err(validation(format!(
                            "Target group weight '{w}' must be between 0 and 999"
                        )))
                    }
                };
                Ok((arn, weight))
            })
            .collect::<Result<_, ApiError>>()?,
        None => Vec::new(),
    };
    let (groups, by_arn) = match (single, listed.is_empty()) {
        (Some(arn), true) => (vec![(arn, 1)], true),
        (Some(arn), false) => {
            if listed.len() != 1 || listed[0].0 != arn {
                return Err(validation("You cannot specify a target group in both TargetGroupArn and ForwardConfig unless they are the same single target group"));
            }
            (listed, true)
        }
        (None, false) => (listed, false),
        (None, true) => {
            return Err(validation("A forward action must specify a target group"));
        }
    };
    if groups.len() > MAX_FORWARD_GROUPS {
        return Err(validation(format!(
            "A forward action can have at most {MAX_FORWARD_GROUPS} target groups"
        )));
    }
    for (i, (arn, _)) in groups.iter().enumerate() {
        if groups[..i].iter().any(|(a, _)| a == arn) {
            return Err(validation(format!("Target group '{arn}' is listed more than once")));
        }
        if !state.target_groups.contains_key(arn) {
            return Err(crate::tg_not_found());
        }
        if state.load_balancers_of(arn).iter().any(|other| other != lb_arn) {
            return Err(ApiError::new(
                ErrorCode::TargetGroupAssociationLimit,
                format!("The following target groups cannot be associated with more than one load balancer: {arn}"),
            ));
        }
    }
    Ok(ActionKind::Forward { groups, single: by_arn })
}

fn fixed_response(config: Option<wire::FixedResponseActionConfig>) -> Result<ActionKind, ApiError> {
    let config = config
        .ok_or_else(|| validation("A fixed-response action must have a FixedResponseConfig"))?;
    let status = config
        .status_code
        .parse::<u16>()
        .ok()
        .filter(|s| matches!(s / 100, 2 | 4 | 5))
        .ok_or_else(|| {
            validation(format!(
                "Fixed response status code '{}' must be 2XX, 4XX or 5XX",
                config.status_code
            ))
        })?;
    const TYPES: [&str; 5] =
        ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
    if let Some(kind) = config.content_type.as_deref().filter(|t| !TYPES.contains(t)) {
        return Err(validation(format!(
            "Content type '{kind}' must be one of {}",
            TYPES.join(", ")
        )));
    }
    if config.message_body.as_ref().is_some_and(|b| b.len() > 1024) {
        return Err(validation("A fixed response body can be at most 1024 characters"));
    }
    Ok(ActionKind::FixedResponse {
        status,
        content_type: config.content_type,
        body: config.message_body,
    })
}

fn redirect(config: Option<wire::RedirectActionConfig>) -> Result<ActionKind, ApiError> {
    let config =
        config.ok_or_else(|| validation("A redirect action must have a RedirectConfig"))?;
    let permanent = match config.status_code.as_str() {
        "HTTP_301" => true,
        "HTTP_302" => false,
        other => {
            return Err(validation(format!(
                "Redirect status code '{other}' must be HTTP_301 or HTTP_302"
            )))
        }
    };
    let protocol = config.protocol.unwrap_or_else(|| "#{protocol}".into());
    if !["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()) {
        return Err(validation(format!(
            "Redirect protocol '{protocol}' must be HTTP, HTTPS or #{{protocol}}"
        )));
    }
    let port = config.port.unwrap_or_else(|| "#{port}".into());
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(validation(format!("Redirect port '{port}' must be a port or #{{port}}")));
    }
    let path = config.path.unwrap_or_else(|| "/#{path}".into());
    if !path.starts_with('/') {
        return Err(validation(format!("Redirect path '{path}' must start with '/'")));
    }
    let host = config.host.unwrap_or_else(|| "#{host}".into());
    let query = config.query.unwrap_or_else(|| "#{query}".into());
    for (what, value) in [("host", &host), ("path", &path), ("query", &query)] {
        if value.len() > 128 {
            return Err(validation(format!("Redirect {what} can be at most 128 characters")));
        }
    }
    if (protocol.as_str(), port.as_str(), host.as_str(), path.as_str(), query.as_str())
        == ("#{protocol}", "#{port}", "#{host}", "/#{path}", "#{query}")
    {
        return Err(validation("A redirect must change at least one of protocol, port, host, path or query, or it would loop"));
    }
    Ok(ActionKind::Redirect { protocol, port, host, path, query, permanent })
}

/// Request conditions checked as ELB checks them.
fn conditions(input: Vec<wire::RuleCondition>) -> Result<Vec<Condition>, ApiError> {
    if input.is_empty() {
        return Err(validation("A rule must have at least one condition"));
    }
    let mut out = Vec::new();
    let mut values = 0;
    for c in input {
        let field = c.field.clone().ok_or_else(|| validation("A condition must have a Field"))?;
        let legacy = c.values.clone().unwrap_or_default();
        let pick = |config: Option<Vec<String>>| -> Result<Vec<String>, ApiError> {
            match (config, legacy.is_empty()) {
                (Some(v), true) => Ok(v),
                (None, false) => Ok(legacy.clone()),
                (Some(_), false) => Err(validation(format!(
                    "You cannot specify both Values and a {field} configuration"
                ))),
                (None, true) => Err(validation(format!("A '{field}' condition must have values"))),
            }
        };
        let legacy_only = |name: &str| -> Result<(), ApiError> {
            if legacy.is_empty() {
                Ok(())
            } else {
                Err(validation(format!(
                    "A '{name}' condition takes its values in its configuration, not in Values"
                )))
            }
        };
        let condition = match field.as_str() {
            "path-pattern" => {
                Condition::PathPattern(pick(c.path_pattern_config.and_then(|p| p.values))?)
            }
            "host-header" => Condition::HostHeader(
                pick(c.host_header_config.and_then(|h| h.values))?
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            ),
            "http-header" => {
                legacy_only("http-header")?;
                let config = c.http_header_config.ok_or_else(|| {
                    validation("An 'http-header' condition must have an HttpHeaderConfig")
                })?;
                let name = config.http_header_name.filter(|n| !n.is_empty() && n.len() <= 40).ok_or_else(|| validation("An 'http-header' condition must name a header of at most 40 characters"))?;
                Condition::HttpHeader { name, values: config.values.unwrap_or_default() }
            }
            "query-string" => {
                legacy_only("query-string")?;
                let pairs = c.query_string_config.and_then(|q| q.values).unwrap_or_default();
                Condition::QueryString(
                    pairs.into_iter().map(|p| (p.key, p.value.unwrap_or_default())).collect(),
                )
            }
            "http-request-method" => {
                legacy_only("http-request-method")?;
                let methods =
                    c.http_request_method_config.and_then(|m| m.values).unwrap_or_default();
                if let Some(bad) = methods.iter().find(|m| {
                    m.is_empty()
                        || m.len() > 40
                        || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
                }) {
                    return Err(validation(format!(
                        "HTTP request method '{bad}' must be upper-case letters, '_' or '-'"
                    )));
                }
                Condition::HttpRequestMethod(methods)
            }
            "source-ip" => {
                legacy_only("source-ip")?;
                let cidrs = c.source_ip_config.and_then(|s| s.values).unwrap_or_default();
                if let Some(bad) = cidrs.iter().find(|c| crate::model::parse_cidr(c).is_none()) {
                    return Err(validation(format!(
                        "Source IP '{bad}' must be an IPv4 CIDR block"
                    )));
                }
                Condition::SourceIp(cidrs)
            }
            other => return Err(validation(format!("Condition field '{other}' is not valid"))),
        };
        let count = match &condition {
            Condition::PathPattern(v)
            | Condition::HostHeader(v)
            | Condition::HttpRequestMethod(v)
            | Condition::SourceIp(v) => v.len(),
            Condition::HttpHeader { values, .. } => values.len(),
            Condition::QueryString(pairs) => pairs.len(),
        };
        if count == 0 {
            return Err(validation(format!("A '{field}' condition must have values")));
        }
        values += count;
        let repeatable =
            matches!(condition, Condition::HttpHeader { .. } | Condition::QueryString(_));
        if !repeatable
            && out.iter().any(|o| std::mem::discriminant(o) == std::mem::discriminant(&condition))
        {
            return Err(validation(format!("A rule can have only one '{field}' condition")));
        }
        out.push(condition);
    }
    if values > MAX_CONDITION_VALUES {
        return Err(validation(format!(
            "A rule can only have '{MAX_CONDITION_VALUES}' condition values"
        )));
    }
    Ok(out)
}

fn check_priority(
    state: &State,
    listener: &str,
    priority: i32,
    except: &str,
) -> Result<u32, ApiError> {
    if !(1..=50000).contains(&priority) {
        return Err(validation(format!("Priority '{priority}' must be between 1 and 50000")));
    }
    let taken =
        state.rules_of(listener).any(|r| r.arn != except && r.priority == Some(priority as u32));
    if taken {
        return Err(ApiError::new(
            ErrorCode::PriorityInUse,
            format!("Priority '{priority}' is currently in use"),
        ));
    }
    Ok(priority as u32)
}

pub async fn create(
    app: &App,
    input: wire::CreateRuleInput,
) -> Result<wire::CreateRuleOutput, ApiError> {
    let tags = tags::checked(input.tags.unwrap_or_default())?;
    let conditions = conditions(input.conditions)?;
    let rule = app
        .records
        .change(|state| {
            let listener = state
                .listeners
                .get(&input.listener_arn)
                .ok_or_else(crate::listener_not_found)?
                .clone();
            if listener.protocol == Protocol::Tcp {
                return Err(validation(
                    "Rules are not supported for the listeners of network load balancers",
                ));
            }
            if state.rules_of(&listener.arn).count() > 100 {
                return Err(ApiError::new(
                    ErrorCode::TooManyRules,
                    "A listener can have at most 100 rules",
                ));
            }
            let priority = check_priority(state, &listener.arn, input.priority, "")?;
            let actions = actions(state, &listener.load_balancer_arn, input.actions)?;
            let listener_part =
                listener.arn.split_once(":listener/").map(|(_, r)| r).unwrap_or_default();
            let arn = app.arn(&format!("listener-rule/{listener_part}/{}", new_id()));
            let rule = Rule {
                arn: arn.clone(),
                listener_arn: listener.arn,
                priority: Some(priority),
                conditions,
                actions,
            };
            state.rules.insert(arn.clone(), rule.clone());
            tags::put(state, &arn, &tags)?;
            Ok(rule)
        })
        .await?;
    Ok(wire::CreateRuleOutput { rules: Some(vec![view(&rule)]) })
}

pub fn describe(
    app: &App,
    input: wire::DescribeRulesInput,
) -> Result<wire::DescribeRulesOutput, ApiError> {
    let state = app.records.snapshot();
    let listener_arn = input.listener_arn;
    let rules: Vec<&Rule> = match (&listener_arn, input.rule_arns) {
        (Some(_), Some(arns)) if !arns.is_empty() => {
            return Err(validation(
                "Listener ARN and rule ARNs cannot be specified at the same time",
            ))
        }
        (_, Some(arns)) if !arns.is_empty() => arns
            .iter()
            .map(|a| state.rules.get(a))
            .collect::<Option<_>>()
            .ok_or_else(crate::rule_not_found)?,
        (Some(listener), _) => {
            if !state.listeners.contains_key(listener) {
                return Err(crate::listener_not_found());
            }
            let mut rules: Vec<&Rule> = state.rules_of(listener).collect();
            rules.sort_by_key(|r| r.priority.unwrap_or(u32::MAX));
            rules
        }
        (None, _) => return Err(validation("A listener ARN or rule ARNs must be specified")),
    };
    let (items, next) = page(&rules, input.marker.as_deref(), input.page_size)?;
    Ok(wire::DescribeRulesOutput {
        rules: Some(items.into_iter().map(view).collect()),
        next_marker: next,
    })
}

pub async fn modify(
    app: &App,
    input: wire::ModifyRuleInput,
) -> Result<wire::ModifyRuleOutput, ApiError> {
    let conditions = input.conditions.map(conditions).transpose()?;
    let rule = app
        .records
        .change(|state| {
            let rule = state.rules.get(&input.rule_arn).ok_or_else(crate::rule_not_found)?.clone();
            let mut next = rule.clone();
            if let Some(conditions) = conditions {
                if rule.priority.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::OperationNotPermitted,
                        "The conditions of a default rule cannot be modified",
                    ));
                }
                next.conditions = conditions;
            }
            if let Some(actions) = input.actions {
                let lb = state
                    .listeners
                    .get(&rule.listener_arn)
                    .map(|l| l.load_balancer_arn.clone())
                    .unwrap_or_default();
                next.actions = self::actions(state, &lb, actions)?;
            }
            state.rules.insert(next.arn.clone(), next.clone());
            Ok(next)
        })
        .await?;
    Ok(wire::ModifyRuleOutput { rules: Some(vec![view(&rule)]) })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteRuleInput,
) -> Result<wire::DeleteRuleOutput, ApiError> {
    app.records
        .change(|state| {
            let rule = state.rules.get(&input.rule_arn).ok_or_else(crate::rule_not_found)?;
            if rule.priority.is_none() {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    "Default rules cannot be deleted",
                ));
            }
            state.rules.remove(&input.rule_arn);
            state.tags.remove(&input.rule_arn);
            Ok(())
        })
        .await?;
    Ok(wire::DeleteRuleOutput {})
}

pub async fn set_priorities(
    app: &App,
    input: wire::SetRulePrioritiesInput,
) -> Result<wire::SetRulePrioritiesOutput, ApiError> {
    let rules = app
        .records
        .change(|state| {
            let mut changed = Vec::new();
            for pair in &input.rule_priorities {
                let arn = pair
                    .rule_arn
                    .clone()
                    .ok_or_else(|| validation("Each rule priority pair must have a RuleArn"))?;
                let priority = pair
                    .priority
                    .ok_or_else(|| validation("Each rule priority pair must have a Priority"))?;
                let rule = state.rules.get_mut(&arn).ok_or_else(crate::rule_not_found)?;
                if rule.priority.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::OperationNotPermitted,
                        "The priority of a default rule cannot be changed",
                    ));
                }
                if !(1..=50000).contains(&priority) {
                    return Err(validation(format!(
                        "Priority '{priority}' must be between 1 and 50000"
                    )));
                }
                rule.priority = Some(priority as u32);
                changed.push(arn);
            }
            // Checked once every pair is applied: priorities may be swapped in one call.
            for arn in &changed {
                let rule = &state.rules[arn];
                let priority = rule.priority.unwrap_or_default();
                check_priority(state, &rule.listener_arn.clone(), priority as i32, arn)?;
            }
            Ok(changed.iter().map(|arn| state.rules[arn].clone()).collect::<Vec<_>>())
        })
        .await?;
    Ok(wire::SetRulePrioritiesOutput { rules: Some(rules.iter().map(view).collect()) })
}

/// Actions as ELB describes them.
pub fn action_views(actions: &[Action]) -> Vec<wire::Action> {
    actions.iter().map(action_view).collect()
}

fn action_view(action: &Action) -> wire::Action {
    let mut out = wire::Action { order: action.order.map(|o| o as i32), ..Default::default() };
    match &action.kind {
        ActionKind::Forward { groups, single } => {
            out.r#type = "forward".into();
            if *single {
                out.target_group_arn = groups.first().map(|(arn, _)| arn.clone());
            }
            out.forward_config = Some(wire::ForwardActionConfig {
                target_groups: Some(
                    groups
                        .iter()
                        .map(|(arn, weight)| wire::TargetGroupTuple {
                            target_group_arn: Some(arn.clone()),
                            weight: Some(*weight as i32),
                        })
                        .collect(),
                ),
                target_group_stickiness_config: Some(wire::TargetGroupStickinessConfig {
                    enabled: Some(false),
                    duration_seconds: None,
                }),
            });
        }
        ActionKind::FixedResponse { status, content_type, body } => {
            out.r#type = "fixed-response".into();
            out.fixed_response_config = Some(wire::FixedResponseActionConfig {
                message_body: body.clone(),
                status_code: status.to_string(),
                content_type: content_type.clone(),
            });
        }
        ActionKind::Redirect { protocol, port, host, path, query, permanent } => {
            out.r#type = "redirect".into();
            out.redirect_config = Some(wire::RedirectActionConfig {
                protocol: Some(protocol.clone()),
                port: Some(port.clone()),
                host: Some(host.clone()),
                path: Some(path.clone()),
                query: Some(query.clone()),
                status_code: if *permanent { "HTTP_301" } else { "HTTP_302" }.into(),
            });
        }
    }
    out
}

/// A rule as ELB describes it.
fn view(rule: &Rule) -> wire::Rule {
    wire::Rule {
        rule_arn: Some(rule.arn.clone()),
        priority: Some(rule.priority.map(|p| p.to_string()).unwrap_or_else(|| "default".into())),
        conditions: Some(rule.conditions.iter().map(condition_view).collect()),
        actions: Some(action_views(&rule.actions)),
        is_default: Some(rule.priority.is_none()),
        ..Default::default()
    }
}

fn condition_view(condition: &Condition) -> wire::RuleCondition {
    let mut out = wire::RuleCondition::default();
    match condition {
        Condition::PathPattern(values) => {
            out.field = Some("path-pattern".into());
            out.values = Some(values.clone());
            out.path_pattern_config = Some(wire::PathPatternConditionConfig {
                values: Some(values.clone()),
                regex_values: None,
            });
        }
        Condition::HostHeader(values) => {
            out.field = Some("host-header".into());
            out.values = Some(values.clone());
            out.host_header_config = Some(wire::HostHeaderConditionConfig {
                values: Some(values.clone()),
                regex_values: None,
            });
        }
        Condition::HttpHeader { name, values } => {
            out.field = Some("http-header".into());
            out.http_header_config = Some(wire::HttpHeaderConditionConfig {
                http_header_name: Some(name.clone()),
                values: Some(values.clone()),
                regex_values: None,
            });
        }
        Condition::QueryString(pairs) => {
            out.field = Some("query-string".into());
            out.query_string_config = Some(wire::QueryStringConditionConfig {
                values: Some(
                    pairs
                        .iter()
                        .map(|(k, v)| wire::QueryStringKeyValuePair {
                            key: k.clone(),
                            value: Some(v.clone()),
                        })
                        .collect(),
                ),
            });
        }
        Condition::HttpRequestMethod(values) => {
            out.field = Some("http-request-method".into());
            out.http_request_method_config =
                Some(wire::HttpRequestMethodConditionConfig { values: Some(values.clone()) });
        }
        Condition::SourceIp(values) => {
            out.field = Some("source-ip".into());
            out.source_ip_config =
                Some(wire::SourceIpConditionConfig { values: Some(values.clone()) });
        }
    }
    out
}
