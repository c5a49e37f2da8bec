//! Listeners: a port of a load balancer (HTTP, or HTTPS with an ACM certificate and a security
//! policy) and its default actions, kept as its default rule; CreateListener (a repeat answers
//! with the same listener), Describe, Modify, Delete and listener attributes.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::attributes;
use crate::model::{
    security_policy, Listener, LoadBalancer, LoadBalancerType, Protocol, Rule, State, Tls,
    DEFAULT_SECURITY_POLICY, SECURITY_POLICIES,
};
use crate::{new_id, page, rules, tags, validation, wire, App};

/// ELB's limit of listeners per load balancer.
const MAX_LISTENERS: usize = 50;

fn check_port(port: Option<i32>) -> Result<u16, ApiError> {
    port.and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| validation("A listener port between 1 and 65535 must be specified"))
}

/// What a listener of `lb` speaks, from a request's protocol (`None`: `current`, else the load
/// balancer's own): HTTP or HTTPS on an application load balancer, TCP on a network one.
fn protocol_for(
    lb: &LoadBalancer,
    protocol: Option<&str>,
    current: Option<Protocol>,
) -> Result<Protocol, ApiError> {
    let wanted = match protocol {
        None => return Ok(current.unwrap_or(lb.kind.protocol())),
        Some("TCP") => Protocol::Tcp,
        Some(_) => Protocol::Http,
    };
    if wanted != lb.kind.protocol() {
        let allowed = match lb.kind {
            LoadBalancerType::Application => "HTTPS, HTTP",
            LoadBalancerType::Network => "TCP",
        };
        return Err(ApiError::new(
            ErrorCode::UnsupportedProtocol,
            format!(
                "Listener protocol '{}' is not supported by {} load balancers: use one of '{allowed}'",
                protocol.unwrap_or_default(),
                lb.kind.as_str()
            ),
        ));
    }
    Ok(wanted)
}

/// The TLS of a listener from a request's protocol, certificates and policy: HTTPS needs one
/// certificate ACM has; HTTP takes neither. `current` is what a modified listener had.
fn tls_of(
    app: &App,
    protocol: Option<&str>,
    certificates: Option<Vec<wire::Certificate>>,
    ssl_policy: Option<String>,
    current: Option<&Tls>,
) -> Result<Option<Tls>, ApiError> {
    let https = match protocol {
        Some("HTTPS") => true,
        Some("HTTP") => false,
        // Other protocols are refused by the field ledger; a modify keeps the current one.
        _ => current.is_some() && protocol.is_none(),
    };
    let certificate =
        match certificates {
            Some(list) if list.len() > 1 => return Err(validation(
                "More than one certificate per listener (SNI) is not supported yet by this server.",
            )),
            Some(list) => list.into_iter().next().and_then(|c| c.certificate_arn),
            None => None,
        };
    if !https {
        if certificate.is_some() || ssl_policy.is_some() {
            return Err(validation(
                "Certificates and SslPolicy can only be given for HTTPS listeners",
            ));
        }
        return Ok(None);
    }
    let certificate_arn = match (certificate, current) {
        (Some(arn), _) => arn,
        (None, Some(tls)) => tls.certificate_arn.clone(),
        (None, None) => {
            return Err(validation("A certificate must be specified for HTTPS listeners"))
        }
    };
    if app.certificates.certificate(&certificate_arn).is_none() {
        return Err(ApiError::new(
            ErrorCode::CertificateNotFound,
            format!("Certificate '{certificate_arn}' not found"),
        ));
    }
    let ssl_policy = ssl_policy
        .or_else(|| current.map(|t| t.ssl_policy.clone()))
        .unwrap_or_else(|| DEFAULT_SECURITY_POLICY.to_string());
    if security_policy(&ssl_policy).is_none() {
        let served: Vec<&str> = SECURITY_POLICIES.iter().map(|(n, _)| *n).collect();
        return Err(validation(format!(
            "The security policy '{ssl_policy}' is not supported yet by this server (served: {})",
            served.join(", ")
        )));
    }
    Ok(Some(Tls { certificate_arn, ssl_policy }))
}

pub async fn create(
    app: &App,
    input: wire::CreateListenerInput,
) -> Result<wire::CreateListenerOutput, ApiError> {
    let tags = tags::checked(input.tags.unwrap_or_default())?;
    let port = check_port(input.port)?;
    let tls = tls_of(app, input.protocol.as_deref(), input.certificates, input.ssl_policy, None)?;
    let described = app
        .records
        .change(|state| {
            let lb = state
                .load_balancers
                .get(&input.load_balancer_arn)
                .ok_or_else(crate::lb_not_found)?
                .clone();
            let protocol = protocol_for(&lb, input.protocol.as_deref(), None)?;
            let actions = rules::actions(state, &lb.arn, input.default_actions)?;
            if let Some(existing) = state.listeners_of(&lb.arn).find(|l| l.port == port) {
                // A repeat of the same request answers with what it made.
                if state.rules.get(&existing.default_rule_arn).map(|r| &r.actions) == Some(&actions)
                    && existing.tls == tls
                    && existing.protocol == protocol
                {
                    return Ok(view(state, existing));
                }
                return Err(ApiError::new(
                    ErrorCode::DuplicateListener,
                    format!(
                        "A listener already exists on port {port} of load balancer '{}'",
                        lb.arn
                    ),
                ));
            }
            if state.listeners_of(&lb.arn).count() >= MAX_LISTENERS {
                return Err(ApiError::new(
                    ErrorCode::TooManyListeners,
                    format!("A load balancer can have at most {MAX_LISTENERS} listeners"),
                ));
            }
            let lb_part = lb.arn.split_once(":loadbalancer/").map(|(_, r)| r).unwrap_or_default();
            let listener_id = new_id();
            let arn = app.arn(&format!("listener/{lb_part}/{listener_id}"));
            let rule_arn = app.arn(&format!("listener-rule/{lb_part}/{listener_id}/{}", new_id()));
            let listener = Listener {
                arn: arn.clone(),
                load_balancer_arn: lb.arn.clone(),
                port,
                protocol,
                default_rule_arn: rule_arn.clone(),
                attributes: BTreeMap::new(),
                tls,
            };
            state.rules.insert(
                rule_arn.clone(),
                Rule {
                    arn: rule_arn,
                    listener_arn: arn.clone(),
                    priority: None,
                    conditions: Vec::new(),
                    actions,
                },
            );
            state.listeners.insert(arn.clone(), listener.clone());
            tags::put(state, &arn, &tags)?;
            Ok(view(state, &listener))
        })
        .await?;
    Ok(wire::CreateListenerOutput { listeners: Some(vec![described]) })
}

pub fn describe(
    app: &App,
    input: wire::DescribeListenersInput,
) -> Result<wire::DescribeListenersOutput, ApiError> {
    let state = app.records.snapshot();
    let lb_arn = input.load_balancer_arn;
    let listeners: Vec<&Listener> = match (&lb_arn, input.listener_arns) {
        (Some(_), Some(arns)) if !arns.is_empty() => {
            return Err(validation(
                "Load balancer ARN and listener ARNs cannot be specified at the same time",
            ))
        }
        (_, Some(arns)) if !arns.is_empty() => arns
            .iter()
            .map(|a| state.listeners.get(a))
            .collect::<Option<_>>()
            .ok_or_else(crate::listener_not_found)?,
        (Some(lb), _) => {
            if !state.load_balancers.contains_key(lb) {
                return Err(crate::lb_not_found());
            }
            let mut listeners: Vec<&Listener> = state.listeners_of(lb).collect();
            listeners.sort_by_key(|l| l.port);
            listeners
        }
        (None, _) => {
            return Err(validation("A load balancer ARN or listener ARNs must be specified"))
        }
    };
    let (items, next) = page(&listeners, input.marker.as_deref(), input.page_size)?;
    Ok(wire::DescribeListenersOutput {
        listeners: Some(items.into_iter().map(|l| view(&state, l)).collect()),
        next_marker: next,
    })
}

pub async fn modify(
    app: &App,
    input: wire::ModifyListenerInput,
) -> Result<wire::ModifyListenerOutput, ApiError> {
    let port = input.port.map(|p| check_port(Some(p))).transpose()?;
    let current =
        app.records.snapshot().listeners.get(&input.listener_arn).and_then(|l| l.tls.clone());
    let tls = tls_of(
        app,
        input.protocol.as_deref(),
        input.certificates,
        input.ssl_policy,
        current.as_ref(),
    )?;
    let described = app
        .records
        .change(|state| {
            let mut listener = state
                .listeners
                .get(&input.listener_arn)
                .ok_or_else(crate::listener_not_found)?
                .clone();
            if let Some(port) = port {
                if state
                    .listeners_of(&listener.load_balancer_arn)
                    .any(|l| l.port == port && l.arn != listener.arn)
                {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateListener,
                        format!(
                            "A listener already exists on port {port} of load balancer '{}'",
                            listener.load_balancer_arn
                        ),
                    ));
                }
                listener.port = port;
            }
            if let Some(lb) = state.load_balancers.get(&listener.load_balancer_arn) {
                listener.protocol =
                    protocol_for(lb, input.protocol.as_deref(), Some(listener.protocol))?;
            }
            listener.tls = tls;
            if let Some(actions) = input.default_actions {
                let actions = rules::actions(state, &listener.load_balancer_arn, actions)?;
                if let Some(rule) = state.rules.get_mut(&listener.default_rule_arn) {
                    rule.actions = actions;
                }
            }
            state.listeners.insert(listener.arn.clone(), listener.clone());
            Ok(view(state, &listener))
        })
        .await?;
    Ok(wire::ModifyListenerOutput { listeners: Some(vec![described]) })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteListenerInput,
) -> Result<wire::DeleteListenerOutput, ApiError> {
    app.records
        .change(|state| {
            if !state.listeners.contains_key(&input.listener_arn) {
                return Err(crate::listener_not_found());
            }
            state.remove_listener(&input.listener_arn);
            Ok(())
        })
        .await?;
    Ok(wire::DeleteListenerOutput {})
}

pub fn describe_attributes(
    app: &App,
    input: wire::DescribeListenerAttributesInput,
) -> Result<wire::DescribeListenerAttributesOutput, ApiError> {
    let state = app.records.snapshot();
    let listener =
        state.listeners.get(&input.listener_arn).ok_or_else(crate::listener_not_found)?;
    Ok(wire::DescribeListenerAttributesOutput {
        attributes: Some(attributes::described(
            listener.protocol.listener_attributes(),
            &listener.attributes,
        )),
    })
}

pub async fn modify_attributes(
    app: &App,
    input: wire::ModifyListenerAttributesInput,
) -> Result<wire::ModifyListenerAttributesOutput, ApiError> {
    let changes = attributes::changes(input.attributes);
    let (of, set) = app
        .records
        .change(|state| {
            let listener = state
                .listeners
                .get_mut(&input.listener_arn)
                .ok_or_else(crate::listener_not_found)?;
            let of = listener.protocol.listener_attributes();
            attributes::apply(of, &mut listener.attributes, &changes)?;
            Ok((of, listener.attributes.clone()))
        })
        .await?;
    Ok(wire::ModifyListenerAttributesOutput { attributes: Some(attributes::described(of, &set)) })
}

/// A listener as ELB describes it.
fn view(state: &State, listener: &Listener) -> wire::Listener {
    let actions =
        state.rules.get(&listener.default_rule_arn).map(|r| rules::action_views(&r.actions));
    wire::Listener {
        listener_arn: Some(listener.arn.clone()),
        load_balancer_arn: Some(listener.load_balancer_arn.clone()),
        port: Some(i32::from(listener.port)),
        protocol: Some(listener.protocol_name().into()),
        certificates: listener.tls.as_ref().map(|t| {
            vec![wire::Certificate {
                certificate_arn: Some(t.certificate_arn.clone()),
                is_default: None,
            }]
        }),
        ssl_policy: listener.tls.as_ref().map(|t| t.ssl_policy.clone()),
        default_actions: actions,
        ..Default::default()
    }
}
