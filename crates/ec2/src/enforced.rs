//! The security groups as agents enforce them: every group's rules turned into the permissions
//! of `flotilla_api::firewall` (rules that name no enforceable protocol are left out: EC2's
//! checks already refused those when they were authorized).

use std::collections::BTreeMap;

use flotilla_api::firewall::{GroupRules, Peer, Permission, Protocol};

use crate::network::{Network, Rule};
use crate::rules::rules_of;

/// group id -> its permissions, for every group of the network.
pub fn group_rules(network: &Network) -> BTreeMap<String, GroupRules> {
    network
        .group_ids()
        .into_iter()
        .map(|id| {
            let mut rules = GroupRules::default();
            for rule in rules_of(network, &id) {
                if let Some(permission) = permission(&rule) {
                    if rule.egress {
                        rules.egress.push(permission);
                    } else {
                        rules.ingress.push(permission);
                    }
                }
            }
            (id, rules)
        })
        .collect()
}

fn permission(rule: &Rule) -> Option<Permission> {
    let peer = match (&rule.cidr, &rule.group) {
        (Some(cidr), _) => Peer::Cidr(cidr.clone()),
        (None, Some(group)) => Peer::Group(group.clone()),
        (None, None) => return None,
    };
    Some(Permission { protocol: Protocol::from_ec2(&rule.protocol, rule.from, rule.to)?, peer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        Network {
            vpc_id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
            cidr_association_id: "vpc-cidr-assoc-1".into(),
            group_id: "sg-default".into(),
            subnets: BTreeMap::new(),
            created_subnets: BTreeMap::new(),
            groups: BTreeMap::from([(
                "sg-web".to_string(),
                crate::network::Group {
                    name: "web".into(),
                    description: "web".into(),
                    tags: Vec::new(),
                },
            )]),
            rules: BTreeMap::new(),
            tags: BTreeMap::new(),
            host_slices: BTreeMap::new(),
        }
    }

    #[test]
    fn groups_begin_as_ec2_makes_them() {
        let groups = group_rules(&network());
        let all_out =
            vec![Permission { protocol: Protocol::All, peer: Peer::Cidr("0.0.0.0/0".into()) }];
        // The default group lets its members in; another group lets nothing in.
        assert_eq!(groups["sg-default"].egress, all_out);
        assert_eq!(
            groups["sg-default"].ingress,
            vec![Permission { protocol: Protocol::All, peer: Peer::Group("sg-default".into()) }]
        );
        assert_eq!(groups["sg-web"].egress, all_out);
        assert!(groups["sg-web"].ingress.is_empty());
    }

    #[test]
    fn changed_rules_are_what_is_enforced() {
        let mut network = network();
        network.rules.insert(
            "sg-web".into(),
            vec![Rule {
                id: "sgr-1".into(),
                egress: false,
                protocol: "tcp".into(),
                from: 80,
                to: 80,
                cidr: Some("10.0.0.0/16".into()),
                group: None,
                description: None,
            }],
        );
        let groups = group_rules(&network);
        assert_eq!(
            groups["sg-web"].ingress,
            vec![Permission {
                protocol: Protocol::Tcp { from: 80, to: 80 },
                peer: Peer::Cidr("10.0.0.0/16".into()),
            }]
        );
        assert!(groups["sg-web"].egress.is_empty(), "egress revoked: nothing goes out");
    }
}
