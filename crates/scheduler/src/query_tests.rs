//! Table tests of the cluster query language: what parses, what each expression selects, and
//! where errors point.

use super::*;

struct Instance {
    id: &'static str,
    connected: bool,
    version: Option<&'static str>,
    attributes: BTreeMap<String, String>,
    registered_at: f64,
    groups: BTreeMap<String, usize>,
}

impl Facts for Instance {
    fn agent_connected(&self) -> bool {
        self.connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.version
    }
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
    fn ec2_instance_id(&self) -> &str {
        self.id
    }
    fn registered_at(&self) -> f64 {
        self.registered_at
    }
    fn running_tasks_count(&self) -> usize {
        self.groups.values().sum()
    }
    fn task_groups(&self) -> &BTreeMap<String, usize> {
        &self.groups
    }
}

/// Three instances: `a` (zone-a, t2.micro, 2 web tasks), `b` (zone-b, m5.large, 1 database
/// task, disconnected), `c` (zone-c, no instance type, idle, registered in 2025).
fn fleet() -> Vec<Instance> {
    let attrs = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()
    };
    let groups = |pairs: &[(&str, usize)]| {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>()
    };
    vec![
        Instance {
            id: "a",
            connected: true,
            version: Some("1.2.0"),
            attributes: attrs(&[
                ("ecs.availability-zone", "zone-a"),
                ("ecs.instance-type", "t2.micro"),
                ("gpu", "true"),
            ]),
            registered_at: parse_time("2024-06-01").unwrap_or_default(),
            groups: groups(&[("service:web", 2)]),
        },
        Instance {
            id: "b",
            connected: false,
            version: Some("1.10.0"),
            attributes: attrs(&[
                ("ecs.availability-zone", "zone-b"),
                ("ecs.instance-type", "m5.large"),
            ]),
            registered_at: parse_time("2024-12-31T23:00:00Z").unwrap_or_default(),
            groups: groups(&[("database", 1)]),
        },
        Instance {
            id: "c",
            connected: true,
            version: None,
            attributes: attrs(&[("ecs.availability-zone", "zone-c")]),
            registered_at: parse_time("2025-02-01T00:00:00Z").unwrap_or_default(),
            groups: BTreeMap::new(),
        },
    ]
}

fn selected(expression: &str) -> String {
    let expr = match parse(expression) {
        Ok(e) => e,
        Err(e) => panic!("{expression:?} should parse: {e}"),
    };
    fleet().iter().filter(|i| eval(&expr, *i)).map(|i| i.id).collect()
}

#[test]
fn selects_as_ecs_documents() {
    let table = [
        ("attribute:ecs.availability-zone == zone-a", "a"),
        ("attribute:ecs.availability-zone equals zone-b", "b"),
        ("attribute:ecs.availability-zone != zone-a", "bc"),
        ("attribute:ecs.availability-zone not_equals zone-a", "bc"),
        ("attribute:ecs.availability-zone in [zone-a, zone-c]", "ac"),
        ("attribute:ecs.availability-zone !in [zone-a, zone-c]", "b"),
        ("attribute:ecs.availability-zone not_in [zone-a]", "bc"),
        ("attribute:ecs.instance-type =~ t2.*", "a"),
        ("attribute:ecs.instance-type matches 'm5\\..*'", "b"),
        ("attribute:ecs.instance-type !~ t2.*", "bc"),
        ("ec2InstanceId =~ [ab]", "ab"),
        ("not(attribute:ecs.instance-type =~ (t2|m5).*)", "c"),
        ("attribute:ecs.instance-type =~ m5.*|t2.micro && agentConnected == true", "a"),
        ("attribute:ecs.instance-type not_matches t2.*", "bc"),
        // Whole-value match: `t2` alone does not match t2.micro.
        ("attribute:ecs.instance-type =~ t2", ""),
        ("attribute:ecs.instance-type exists", "ab"),
        ("attribute:ecs.instance-type !exists", "c"),
        ("attribute:ecs.instance-type not_exists", "c"),
        ("attribute:gpu == true", "a"),
        ("agentConnected == true", "ac"),
        ("agentConnected == false", "b"),
        ("agentVersion exists", "ab"),
        // Numbers compare as numbers: 1.10.0 is text, so this is a text comparison...
        ("agentVersion > 1.2.0", ""),
        ("ec2InstanceId == c", "c"),
        ("ec2InstanceId in [a, b]", "ab"),
        ("registeredAt >= 2025-01-01", "c"),
        ("registeredAt < 2024-12-31T23:00:00Z", "a"),
        ("registeredAt <= 2024-12-31T23:00:00Z", "ab"),
        ("registeredAt greater_than 2024-06-01", "bc"),
        ("runningTasksCount == 0", "c"),
        ("runningTasksCount > 1", "a"),
        ("runningTasksCount >= 1", "ab"),
        ("runningTasksCount less_than 2", "bc"),
        ("runningTasksCount less_than_equal 2", "abc"),
        ("runningTasksCount greater_than_equal 10", ""),
        ("task:group == service:web", "a"),
        ("task:group != service:web", "bc"),
        ("task:group exists", "ab"),
        ("task:group !exists", "c"),
        ("task:group in [database, other]", "b"),
        ("task:group =~ service:.*", "a"),
        ("not(task:group == database)", "ac"),
        ("!(task:group == database)", "ac"),
        ("not task:group == database", "ac"),
        ("attribute:ecs.availability-zone == zone-a or runningTasksCount == 0", "ac"),
        ("attribute:ecs.availability-zone == zone-a || ec2InstanceId == b", "ab"),
        ("agentConnected == true and runningTasksCount == 0", "c"),
        ("agentConnected == true && attribute:gpu exists", "a"),
        // `and` binds tighter than `or`.
        ("ec2InstanceId == a or ec2InstanceId == b and agentConnected == true", "a"),
        ("(ec2InstanceId == a or ec2InstanceId == b) and agentConnected == false", "b"),
        ("  ( ( ec2InstanceId == c ) )  ", "c"),
        ("ec2InstanceId == \"c\"", "c"),
        // Missing attributes satisfy only negative operators.
        ("attribute:missing != x", "abc"),
        ("attribute:missing == x", ""),
    ];
    for (expression, expected) in table {
        assert_eq!(selected(expression), expected, "{expression}");
    }
}

#[test]
fn errors_name_the_position() {
    let table: [(&str, usize, &str); 14] = [
        ("", 0, "empty"),
        ("attribute:zone", 14, "expected an operator"),
        ("attribute:zone ==", 17, "value was expected"),
        ("color == red", 0, "unknown subject 'color'"),
        ("attribute: == x", 0, "unknown subject"),
        ("attribute:zone ~~ red", 15, "unknown operator"),
        ("attribute:zone in zone-a", 18, "expected '['"),
        ("attribute:zone in [a, b", 23, "expected ',' or ']'"),
        ("(attribute:zone == a", 20, "expected ')'"),
        ("attribute:zone == a)", 19, "unexpected ')'"),
        ("attribute:zone =~ '('", 18, "invalid regular expression"),
        ("registeredAt > yesterday", 15, "not a date"),
        ("attribute:zone == 'open", 18, "unterminated"),
        ("attribute:a == b &", 17, "unexpected character"),
    ];
    for (expression, position, words) in table {
        match parse(expression) {
            Ok(_) => panic!("{expression:?} should not parse"),
            Err(e) => {
                assert_eq!(e.position, position, "{expression:?}: {e}");
                assert!(e.message.contains(words), "{expression:?}: {e}");
            }
        }
    }
    let deep = format!("{}ec2InstanceId == a{}", "(".repeat(900), ")".repeat(900));
    assert!(parse(&deep).is_err_and(|e| e.message.contains("nested deeper")));
    let nots = format!("{}ec2InstanceId == a", "!".repeat(1900));
    assert!(parse(&nots).is_err_and(|e| e.message.contains("nested deeper")));
    assert!(parse("registeredAt > 9000000000000000000-01-01").is_err());
    let long = format!("ec2InstanceId in [{}]", vec!["x"; 1200].join(","));
    assert!(parse(&long).is_err_and(|e| e.message.contains("2000")));
}

#[test]
fn knows_which_expressions_depend_on_tasks() {
    let depends = |e: &str| parse(e).map(|e| e.depends_on_tasks()).unwrap_or_default();
    assert!(depends("runningTasksCount < 3"));
    assert!(depends("attribute:a exists and not task:group == x"));
    assert!(!depends("attribute:a exists or agentConnected == true"));
}

#[test]
fn parses_dates() {
    assert_eq!(parse_time("1970-01-01"), Some(0.0));
    assert_eq!(parse_time("2000-03-01T00:00:01Z"), Some(951_868_801.0));
    assert_eq!(parse_time("2024-13-01"), None);
    assert_eq!(parse_time("soon"), None);
}
