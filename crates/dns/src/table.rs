//! The names this server answers itself: the region's [`DnsTable`] compiled into hickory
//! records, looked up by name and type. Pure: no IO, randomness passed in.

use std::collections::HashMap;

use flotilla_api::dns::{DnsTable, RecordData, Routing};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// One name's records of one type.
#[derive(Debug, Clone)]
struct Set {
    kind: RecordType,
    routing: Routing,
    records: Vec<Record>,
}

/// The compiled table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    zones: Vec<String>,
    /// Lowercase name without the trailing dot -> its record sets.
    names: HashMap<String, Vec<Set>>,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Records of the name and type (and, for SRV, the addresses of the targets).
    Answer { answers: Vec<Record>, additionals: Vec<Record> },
    /// The name exists here but has no record of that type.
    NoData,
    /// The name is in one of our zones and does not exist.
    NxDomain,
    /// Not ours: forward it.
    Elsewhere,
}

/// `web.prod.local.` and `Web.Prod.Local` are the same key: `web.prod.local`.
pub fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Table {
    /// Compiles `table`; a record set whose name or SRV target is not a valid DNS name is
    /// left out (Cloud Map allows instance ids that are not DNS labels).
    pub fn new(table: &DnsTable) -> Table {
        let mut names: HashMap<String, Vec<Set>> = HashMap::new();
        for set in &table.record_sets {
            let Ok(name) = Name::from_ascii(format!("{}.", key(&set.name))) else {
                tracing::debug!(name = %set.name, "not a DNS name: left out");
                continue;
            };
            let (kind, records) = match &set.data {
                RecordData::A(addresses) => (
                    RecordType::A,
                    addresses
                        .iter()
                        .map(|a| Record::from_rdata(name.clone(), set.ttl, RData::A(A(*a))))
                        .collect::<Vec<_>>(),
                ),
                RecordData::Srv(targets) => (
                    RecordType::SRV,
                    targets
                        .iter()
                        .filter_map(|t| {
                            let target = Name::from_ascii(format!("{}.", key(&t.target))).ok()?;
                            let srv = SRV::new(t.priority, t.weight, t.port, target);
                            Some(Record::from_rdata(name.clone(), set.ttl, RData::SRV(srv)))
                        })
                        .collect(),
                ),
            };
            names.entry(key(&set.name)).or_default().push(Set {
                kind,
                routing: set.routing,
                records,
            });
        }
        Table { zones: table.zones.iter().map(|z| key(z)).collect(), names }
    }

    /// Whether `name` (a key) is one of our zones or under one.
    fn in_zone(&self, name: &str) -> bool {
        self.zones.iter().any(|zone| {
            name == zone
                || (name.len() > zone.len() && name.ends_with(zone.as_str()) && {
                    name.as_bytes()[name.len() - zone.len() - 1] == b'.'
                })
        })
    }

    /// The answer to `name`/`kind`; `shuffle` orders the candidates of a multi-record set
    /// before the routing policy's limit is applied.
    pub fn lookup(
        &self,
        name: &str,
        kind: RecordType,
        shuffle: &mut dyn FnMut(&mut [Record]),
    ) -> Lookup {
        let name = key(name);
        let Some(sets) = self.names.get(&name) else {
            return if self.zones.contains(&name) {
                Lookup::NoData // a zone's apex exists
            } else if self.in_zone(&name) {
                Lookup::NxDomain
            } else {
                Lookup::Elsewhere
            };
        };
        let mut answers = Vec::new();
        for set in sets.iter().filter(|s| kind == RecordType::ANY || s.kind == kind) {
            let mut records = set.records.clone();
            shuffle(&mut records);
            records.truncate(set.routing.answer_limit());
            answers.extend(records);
        }
        if answers.is_empty() {
            return Lookup::NoData;
        }
        // The addresses of SRV targets ride along, as Route 53 sends them.
        let mut additionals = Vec::new();
        for answer in &answers {
            if let RData::SRV(srv) = &answer.data {
                let target = key(&srv.target.to_ascii());
                for set in self.names.get(&target).into_iter().flatten() {
                    if set.kind == RecordType::A {
                        additionals.extend(set.records.iter().cloned());
                    }
                }
            }
        }
        Lookup::Answer { answers, additionals }
    }
}

/// A random order, for answers.
pub fn random_order(records: &mut [Record]) {
    fastrand::shuffle(records);
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use flotilla_api::dns::{RecordSet, SrvRecord};

    use super::*;

    fn table() -> Table {
        let a = |name: &str, routing, addresses: &[[u8; 4]]| RecordSet {
            name: name.into(),
            ttl: 10,
            routing,
            data: RecordData::A(addresses.iter().map(|a| Ipv4Addr::from(*a)).collect()),
        };
        let many: Vec<[u8; 4]> = (1..=12).map(|i| [10, 0, 0, i]).collect();
        Table::new(&DnsTable {
            zones: vec!["prod.local".into()],
            record_sets: vec![
                a("web.prod.local", Routing::Multivalue, &many),
                a("one.prod.local", Routing::Weighted, &many),
                a("t1.api.prod.local", Routing::Multivalue, &[[10, 0, 1, 1]]),
                RecordSet {
                    name: "api.prod.local".into(),
                    ttl: 60,
                    routing: Routing::Multivalue,
                    data: RecordData::Srv(vec![SrvRecord {
                        priority: 1,
                        weight: 1,
                        port: 32768,
                        target: "t1.api.prod.local".into(),
                    }]),
                },
                a("my-lb-1.us-east-1.elb.flotilla.test", Routing::Multivalue, &[[127, 0, 1, 1]]),
                a("bad name!.prod.local", Routing::Multivalue, &[[10, 0, 0, 9]]),
            ],
        })
    }

    fn keep(_: &mut [Record]) {}

    fn answers(lookup: Lookup) -> (Vec<String>, Vec<String>) {
        match lookup {
            Lookup::Answer { answers, additionals } => (
                answers.iter().map(|r| r.data.to_string()).collect(),
                additionals.iter().map(|r| r.data.to_string()).collect(),
            ),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn multivalue_answers_at_most_eight_and_weighted_one() {
        let table = table();
        let (web, _) = answers(table.lookup("WEB.prod.local.", RecordType::A, &mut keep));
        assert_eq!(web.len(), 8);
        assert_eq!(web[0], "10.0.0.1");
        let (one, _) = answers(table.lookup("one.prod.local", RecordType::A, &mut keep));
        assert_eq!(one, ["10.0.0.1"]);
        // The shuffle decides which ones.
        let mut reverse = |r: &mut [Record]| r.reverse();
        let (one, _) = answers(table.lookup("one.prod.local", RecordType::A, &mut reverse));
        assert_eq!(one, ["10.0.0.12"]);
    }

    #[test]
    fn srv_answers_carry_their_targets_addresses() {
        let (srv, extra) = answers(table().lookup("api.prod.local", RecordType::SRV, &mut keep));
        assert_eq!(srv, ["1 1 32768 t1.api.prod.local."]);
        assert_eq!(extra, ["10.0.1.1"]);
    }

    #[test]
    fn zones_are_authoritative_and_other_names_go_elsewhere() {
        let table = table();
        assert_eq!(table.lookup("api.prod.local", RecordType::A, &mut keep), Lookup::NoData);
        assert_eq!(table.lookup("nothing.prod.local", RecordType::A, &mut keep), Lookup::NxDomain);
        assert_eq!(table.lookup("prod.local", RecordType::A, &mut keep), Lookup::NoData);
        assert_eq!(table.lookup("xprod.local", RecordType::A, &mut keep), Lookup::Elsewhere);
        assert_eq!(table.lookup("example.com", RecordType::A, &mut keep), Lookup::Elsewhere);
        let (lb, _) =
            answers(table.lookup("my-lb-1.us-east-1.elb.flotilla.test", RecordType::A, &mut keep));
        assert_eq!(lb, ["127.0.1.1"]);
        assert_eq!(
            table.lookup("other.us-east-1.elb.flotilla.test", RecordType::A, &mut keep),
            Lookup::Elsewhere
        );
        // A name that is not a DNS name was left out, and its zone says it does not exist.
        assert_eq!(
            table.lookup("bad name!.prod.local", RecordType::A, &mut keep),
            Lookup::NxDomain
        );
    }
}
