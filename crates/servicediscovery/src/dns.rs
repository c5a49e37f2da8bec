//! What the region's DNS answers for Cloud Map: each private DNS namespace is a zone; each of
//! its services with `DnsConfig` names its instances as Route 53 would — `<service>.<namespace>`
//! A records (AWS_INSTANCE_IPV4) and SRV records (`1 1 <AWS_INSTANCE_PORT>
//! <instance id>.<service>.<namespace>`, whose targets get A records of their own), healthy
//! instances only unless none is healthy (then all of them, as Route 53 answers).

use std::net::Ipv4Addr;

use flotilla_api::dns::{RecordData, RecordSet, Routing, SrvRecord};

use crate::model::{Discovery, Health, Instance, NamespaceType, Service};

/// The zones (namespace names) and record sets of every private DNS namespace.
pub fn records(state: &Discovery) -> (Vec<String>, Vec<RecordSet>) {
    let mut zones = Vec::new();
    let mut sets = Vec::new();
    for namespace in state.namespaces.values() {
        if namespace.kind != NamespaceType::DnsPrivate {
            continue;
        }
        let zone = namespace.name.trim_end_matches('.').to_ascii_lowercase();
        for service in state.services.values().filter(|s| s.namespace_id == namespace.id) {
            service_records(service, &zone, &mut sets);
        }
        zones.push(zone);
    }
    (zones, sets)
}

fn service_records(service: &Service, zone: &str, sets: &mut Vec<RecordSet>) {
    let Some(dns) = service.dns.as_ref().filter(|_| !service.http_only) else { return };
    let routing =
        if dns.routing_policy == "WEIGHTED" { Routing::Weighted } else { Routing::Multivalue };
    let healthy: Vec<&Instance> =
        service.instances.values().filter(|i| i.health != Health::Unhealthy).collect();
    let answered: Vec<&Instance> =
        if healthy.is_empty() { service.instances.values().collect() } else { healthy };
    let name = format!("{}.{zone}", service.name.to_ascii_lowercase());
    let ipv4 = |i: &Instance| i.attributes.get("AWS_INSTANCE_IPV4")?.parse::<Ipv4Addr>().ok();
    for (kind, ttl) in &dns.records {
        let ttl = u32::try_from(*ttl).unwrap_or(0);
        match kind.as_str() {
            "A" => {
                // One record per address: tasks of one host share its address, and an RRset
                // holds no duplicates (RFC 2181).
                let mut addresses: Vec<Ipv4Addr> =
                    answered.iter().filter_map(|i| ipv4(i)).collect();
                addresses.sort();
                addresses.dedup();
                if !addresses.is_empty() {
                    let data = RecordData::A(addresses);
                    sets.push(RecordSet { name: name.clone(), ttl, routing, data });
                }
            }
            "SRV" => {
                let mut targets = Vec::new();
                for instance in &answered {
                    let Some(port) =
                        instance.attributes.get("AWS_INSTANCE_PORT").and_then(|p| p.parse().ok())
                    else {
                        continue;
                    };
                    let target = format!("{}.{name}", instance.id.to_ascii_lowercase());
                    if let Some(address) = ipv4(instance) {
                        sets.push(RecordSet {
                            name: target.clone(),
                            ttl,
                            routing,
                            data: RecordData::A(vec![address]),
                        });
                    }
                    targets.push(SrvRecord { priority: 1, weight: 1, port, target });
                }
                if !targets.is_empty() {
                    let data = RecordData::Srv(targets);
                    sets.push(RecordSet { name: name.clone(), ttl, routing, data });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Dns, Namespace};

    fn instance(id: &str, ip: &str, port: Option<&str>, health: Health) -> Instance {
        let mut attributes = BTreeMap::from([("AWS_INSTANCE_IPV4".to_string(), ip.to_string())]);
        if let Some(port) = port {
            attributes.insert("AWS_INSTANCE_PORT".into(), port.into());
        }
        Instance { id: id.into(), attributes, creator_request_id: None, health }
    }

    fn state(kind: NamespaceType, records: &[(&str, i64)], instances: Vec<Instance>) -> Discovery {
        let mut state = Discovery::default();
        state.namespaces.insert(
            "ns-1".into(),
            Namespace {
                id: "ns-1".into(),
                arn: "arn".into(),
                name: "Prod.Local".into(),
                kind,
                description: None,
                vpc: None,
                created: 0.0,
                creator_request_id: None,
                operation_id: "op".into(),
            },
        );
        state.services.insert(
            "srv-1".into(),
            Service {
                id: "srv-1".into(),
                arn: "arn".into(),
                name: "web".into(),
                namespace_id: "ns-1".into(),
                description: None,
                dns: Some(Dns {
                    routing_policy: "MULTIVALUE".into(),
                    records: records.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
                }),
                custom_health: true,
                http_only: false,
                created: 0.0,
                creator_request_id: None,
                instances: instances.into_iter().map(|i| (i.id.clone(), i)).collect(),
                revision: 1,
            },
        );
        state
    }

    #[test]
    fn a_and_srv_records_of_healthy_instances() {
        let (zones, sets) = records(&state(
            NamespaceType::DnsPrivate,
            &[("A", 10), ("SRV", 20)],
            vec![
                instance("t1", "10.0.0.1", Some("32768"), Health::Healthy),
                instance("t2", "10.0.0.2", Some("32769"), Health::Unhealthy),
            ],
        ));
        assert_eq!(zones, ["prod.local"]);
        let shown: Vec<String> =
            sets.iter().map(|s| format!("{} {} {:?}", s.name, s.ttl, s.data)).collect();
        assert_eq!(
            shown,
            [
                "web.prod.local 10 A([10.0.0.1])",
                "t1.web.prod.local 20 A([10.0.0.1])",
                "web.prod.local 20 Srv([SrvRecord { priority: 1, weight: 1, port: 32768, target: \"t1.web.prod.local\" }])",
            ]
        );
    }

    #[test]
    fn all_instances_when_none_is_healthy_and_nothing_for_http_namespaces() {
        let unhealthy = || {
            vec![
                instance("t1", "10.0.0.1", None, Health::Unhealthy),
                instance("t2", "10.0.0.2", None, Health::Unhealthy),
                instance("t3", "10.0.0.2", None, Health::Unhealthy),
            ]
        };
        let (_, sets) = records(&state(NamespaceType::DnsPrivate, &[("A", 10)], unhealthy()));
        assert_eq!(sets[0].data.len(), 2);
        let (zones, sets) = records(&state(NamespaceType::Http, &[("A", 10)], unhealthy()));
        assert!(zones.is_empty() && sets.is_empty());
    }

    #[test]
    fn routing_policy_and_ttls_reach_the_records() {
        let mut weighted = state(
            NamespaceType::DnsPrivate,
            &[("A", 300), ("SRV", 45)],
            vec![instance("t1", "10.0.0.1", Some("80"), Health::Unknown)],
        );
        let (_, multivalue) = records(&weighted);
        assert!(multivalue.iter().all(|s| s.routing == Routing::Multivalue));
        if let Some(dns) = weighted.services.get_mut("srv-1").and_then(|s| s.dns.as_mut()) {
            dns.routing_policy = "WEIGHTED".into();
        }
        let (_, sets) = records(&weighted);
        assert!(sets.iter().all(|s| s.routing == Routing::Weighted));
        let ttls: Vec<(String, u32)> = sets.iter().map(|s| (s.name.clone(), s.ttl)).collect();
        assert_eq!(
            ttls,
            [
                ("web.prod.local".to_string(), 300),
                ("t1.web.prod.local".to_string(), 45),
                ("web.prod.local".to_string(), 45),
            ]
        );
    }
}
