//! Table tests of AWS's documented behaviour, and properties: an explicit deny always wins,
//! and adding an allow never takes access away.

use proptest::prelude::*;

use crate::{evaluate, Context, Decision, Policy, PolicyError, Principal, Request};

const TASK_DEF: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3";
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

fn policy(statements: &str) -> Policy {
    let text = format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#);
    Policy::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn decide(policies: &[&Policy], action: &str, resource: &str, context: &Context) -> Decision {
    evaluate(policies, &Request { action, resource, principal: None, context })
}

#[test]
fn actions_and_resources_match_with_wildcards() {
    let p = policy(
        r#"[{"Effect": "Allow", "Action": "ecs:Run*",
             "Resource": "arn:aws:ecs:*:123456789012:task-definition/web:*"}]"#,
    );
    let none = Context::new();
    let cases = [
        ("ecs:RunTask", TASK_DEF, Decision::Allow),
        ("ECS:runtask", TASK_DEF, Decision::Allow), // actions ignore case
        ("ecs:StartTask", TASK_DEF, Decision::ImplicitDeny),
        (
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
            Decision::ImplicitDeny,
        ),
        (
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:999999999999:task-definition/web:3",
            Decision::ImplicitDeny,
        ),
        // `*` stays within its ARN part: the account cannot be crossed into.
        (
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/WEB:3",
            Decision::ImplicitDeny,
        ),
    ];
    for (action, resource, wanted) in cases {
        assert_eq!(decide(&[&p], action, resource, &none), wanted, "{action} {resource}");
    }
}

#[test]
fn an_explicit_deny_wins_and_not_action_inverts() {
    let allow = policy(r#"{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}"#);
    let deny = policy(
        r#"{"Effect": "Deny", "NotAction": ["ecs:Describe*", "ecs:List*"], "Resource": "*"}"#,
    );
    let none = Context::new();
    assert_eq!(decide(&[&allow, &deny], "ecs:DescribeServices", CLUSTER, &none), Decision::Allow);
    assert_eq!(
        decide(&[&allow, &deny], "ecs:DeleteCluster", CLUSTER, &none),
        Decision::ExplicitDeny
    );
    assert_eq!(decide(&[&deny], "ecs:ListClusters", "*", &none), Decision::ImplicitDeny);
    let not_resource = policy(
        r#"{"Effect": "Allow", "Action": "ecs:*", "NotResource": "arn:aws:ecs:*:*:cluster/prod"}"#,
    );
    assert_eq!(
        decide(&[&not_resource], "ecs:DeleteCluster", CLUSTER, &none),
        Decision::ImplicitDeny
    );
    let other = "arn:aws:ecs:us-east-1:123456789012:cluster/dev";
    assert_eq!(decide(&[&not_resource], "ecs:DeleteCluster", other, &none), Decision::Allow);
}

#[test]
fn conditions_compare_as_their_operators_say() {
    let with = |condition: &str| {
        policy(&format!(
            r#"{{"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*", "Condition": {condition}}}"#
        ))
    };
    let ctx = Context::new()
        .with("ecs:cluster", CLUSTER)
        .with("aws:SourceIp", "10.1.2.3")
        .with("aws:CurrentTime", "2026-12-07T12:00:00Z")
        .with("aws:SecureTransport", "false")
        .with("ecs:task-cpu", "512")
        .with("aws:username", "alice")
        .with_all("aws:TagKeys", ["env".to_string(), "team".to_string()]);
    let cases: &[(&str, bool)] = &[
        (
            r#"{"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}}"#,
            true,
        ),
        (r#"{"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:*:cluster/pr*"}}"#, true),
        (r#"{"ArnNotLike": {"ecs:cluster": "arn:aws:ecs:*:*:cluster/prod"}}"#, false),
        (
            r#"{"StringEquals": {"ECS:Cluster": ["x", "arn:aws:ecs:us-east-1:123456789012:cluster/prod"]}}"#,
            true,
        ),
        (r#"{"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}"#, true),
        (r#"{"StringNotEquals": {"aws:username": ["bob", "carol"]}}"#, true),
        (r#"{"StringNotEquals": {"aws:username": ["bob", "alice"]}}"#, false),
        (r#"{"StringLike": {"aws:username": "a?ic*"}}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "10.1.0.0/16"}}"#, true),
        (r#"{"NotIpAddress": {"aws:SourceIp": ["10.1.0.0/16", "192.168.0.0/24"]}}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "10.2.0.0/16"}}"#, false),
        (r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#, true),
        (r#"{"DateGreaterThan": {"aws:CurrentTime": "1796558400"}}"#, true),
        (r#"{"Bool": {"aws:SecureTransport": "true"}}"#, false),
        (r#"{"Bool": {"aws:SecureTransport": false}}"#, true),
        (r#"{"NumericLessThanEquals": {"ecs:task-cpu": 512}}"#, true),
        (r#"{"NumericGreaterThan": {"ecs:task-cpu": "512"}}"#, false),
        // A missing key: false, except negated, IfExists and Null.
        (r#"{"StringEquals": {"aws:RequestTag/env": "prod"}}"#, false),
        (r#"{"StringNotEquals": {"aws:RequestTag/env": "prod"}}"#, true),
        (r#"{"StringEqualsIfExists": {"aws:RequestTag/env": "prod"}}"#, true),
        (r#"{"StringEqualsIfExists": {"aws:username": "bob"}}"#, false),
        (r#"{"Null": {"aws:RequestTag/env": "true"}}"#, true),
        (r#"{"Null": {"aws:username": "true"}}"#, false),
        // Sets.
        (r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team", "cost"]}}"#, true),
        (r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}"#, false),
        (r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}"#, true),
        (r#"{"ForAnyValue:StringEquals": {"aws:RequestTag/none": ["team"]}}"#, false),
        (r#"{"ForAllValues:StringEquals": {"aws:RequestTag/none": ["team"]}}"#, true),
        // Several keys: all; several operators: all.
        (
            r#"{"StringEquals": {"aws:username": "alice", "ecs:task-cpu": "512"}, "Bool": {"aws:SecureTransport": "false"}}"#,
            true,
        ),
        (r#"{"StringEquals": {"aws:username": "alice", "ecs:task-cpu": "1024"}}"#, false),
        // Policy variables in condition values.
        (r#"{"StringEquals": {"aws:username": "${aws:username}"}}"#, true),
        (r#"{"StringEquals": {"aws:username": "${aws:userid}"}}"#, false),
        (r#"{"StringEquals": {"aws:username": "${aws:userid, 'alice'}"}}"#, true),
    ];
    for (condition, wanted) in cases {
        let decision = decide(&[&with(condition)], "ecs:RunTask", TASK_DEF, &ctx);
        assert_eq!(decision == Decision::Allow, *wanted, "{condition}");
    }
}

#[test]
fn resources_take_policy_variables_in_2012_10_17_only() {
    let statement = r#"{"Effect": "Allow", "Action": "iam:GetUser",
                        "Resource": "arn:aws:iam::123456789012:user/${aws:username}"}"#;
    let alice = "arn:aws:iam::123456789012:user/alice";
    let ctx = Context::new().with("aws:username", "alice");
    assert_eq!(decide(&[&policy(statement)], "iam:GetUser", alice, &ctx), Decision::Allow);
    let bob = "arn:aws:iam::123456789012:user/bob";
    assert_eq!(decide(&[&policy(statement)], "iam:GetUser", bob, &ctx), Decision::ImplicitDeny);
    // No value: the resource matches nothing (never an empty name).
    let nobody = Context::new();
    let bare = "arn:aws:iam::123456789012:user/";
    assert_eq!(decide(&[&policy(statement)], "iam:GetUser", bare, &nobody), Decision::ImplicitDeny);
    let old = Policy::parse(&format!(r#"{{"Version": "2008-10-17", "Statement": {statement}}}"#))
        .expect("parse");
    assert_eq!(decide(&[&old], "iam:GetUser", alice, &ctx), Decision::ImplicitDeny);
}

#[test]
fn what_a_variable_puts_in_is_literal_and_a_missing_one_never_widens() {
    let ctx = Context::new().with("aws:username", "a*");
    // `${*}` is a star, not a wildcard; so is a star in a variable's value.
    let star = policy(
        r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}"}"#,
    );
    assert_eq!(decide(&[&star], "s3:GetObject", "arn:aws:s3:::b/*", &ctx), Decision::Allow);
    assert_eq!(
        decide(&[&star], "s3:GetObject", "arn:aws:s3:::b/key", &ctx),
        Decision::ImplicitDeny
    );
    let user = policy(
        r#"{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::1:user/${aws:username}"}"#,
    );
    assert_eq!(
        decide(&[&user], "iam:GetUser", "arn:aws:iam::1:user/alice", &ctx),
        Decision::ImplicitDeny
    );
    assert_eq!(decide(&[&user], "iam:GetUser", "arn:aws:iam::1:user/a*", &ctx), Decision::Allow);
    // No value: a negated condition does not hold, a NotResource statement does not apply.
    let none = Context::new();
    let negated = policy(
        r#"{"Effect": "Allow", "Action": "ecs:*", "Resource": "*",
            "Condition": {"StringNotEquals": {"ecs:cluster": "${aws:PrincipalTag/team}"}}}"#,
    );
    let with_cluster = Context::new().with("ecs:cluster", CLUSTER);
    assert_eq!(decide(&[&negated], "ecs:RunTask", TASK_DEF, &with_cluster), Decision::ImplicitDeny);
    let not_resource = policy(
        r#"{"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::1:user/${aws:username}"}"#,
    );
    assert_eq!(
        decide(&[&not_resource], "iam:GetUser", "arn:aws:iam::1:user/x", &none),
        Decision::ImplicitDeny
    );
}

#[test]
fn dates_take_the_iso_forms_aws_takes() {
    let ctx = Context::new().with("aws:CurrentTime", "2026-12-07T12:00:00Z");
    for (condition, wanted) in [
        (r#"{"DateGreaterThan": {"aws:CurrentTime": "2026-12-07"}}"#, true),
        (r#"{"DateLessThan": {"aws:CurrentTime": "2026-12-07T11:59Z"}}"#, false),
        (r#"{"DateLessThan": {"aws:CurrentTime": "2026-12-07T13:00+00:00"}}"#, true),
        (r#"{"ForAnyValue:DateEqualsIfExists": {"aws:TokenIssueTime": "2026-01-01"}}"#, true),
    ] {
        let p = policy(&format!(
            r#"{{"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*", "Condition": {condition}}}"#
        ));
        assert_eq!(
            decide(&[&p], "ecs:RunTask", TASK_DEF, &ctx) == Decision::Allow,
            wanted,
            "{condition}"
        );
    }
}

#[test]
fn trust_policies_name_their_principals() {
    let trust = policy(
        r#"{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "ecs-tasks.amazonaws.com", "AWS": "arn:aws:iam::123456789012:root"}}"#,
    );
    trust.check_trust().expect("a trust policy");
    assert!(trust.check_identity().is_err(), "a principal has no place in an identity policy");
    let none = Context::new();
    let ask = |kind: &str, value: &str| {
        let who = Principal { kind: kind.into(), value: value.into() };
        evaluate(
            &[&trust],
            &Request {
                action: "sts:AssumeRole",
                resource: "*",
                principal: Some(&who),
                context: &none,
            },
        )
    };
    assert_eq!(ask("Service", "ecs-tasks.amazonaws.com"), Decision::Allow);
    assert_eq!(ask("AWS", "arn:aws:iam::123456789012:user/ci"), Decision::Allow);
    assert_eq!(ask("AWS", "arn:aws:iam::999999999999:user/ci"), Decision::ImplicitDeny);
    assert_eq!(ask("Service", "ec2.amazonaws.com"), Decision::ImplicitDeny);
}

#[test]
fn malformed_documents_are_refused_by_name() {
    let refused = [
        ("not json", "Syntax errors"),
        (r#"{"Version": "2012-10-17"}"#, "Statement is required"),
        (r#"{"Version": "2020-01-01", "Statement": []}"#, "version"),
        (
            r#"{"Statement": {"Effect": "Maybe", "Action": "ecs:*", "Resource": "*"}}"#,
            "Invalid effect",
        ),
        (r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"#, "must contain actions"),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "RunTask", "Resource": "*"}}"#,
            "prefaced by a vendor",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "ecs:*", "NotAction": "ecs:A", "Resource": "*"}}"#,
            "both",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "ecs:*", "Resource": "*", "Condition": {"StringAlike": {"a:b": "c"}}}}"#,
            "Invalid Condition type",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "ecs:*", "Resource": "*", "Color": "red"}}"#,
            "unknown field",
        ),
    ];
    for (text, says) in refused {
        let error = Policy::parse(text).expect_err(text).to_string();
        assert!(error.contains(says), "{text}: {error}");
    }
    let no_resource =
        Policy::parse(r#"{"Statement": {"Effect": "Allow", "Action": "ecs:*"}}"#).expect("parses");
    assert!(matches!(no_resource.check_identity(), Err(PolicyError::Invalid(_))));
}

/// A small world of actions and resources, so generated statements often apply.
fn action() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["ecs:RunTask", "ecs:StopTask", "ecs:ListTasks", "iam:GetUser"])
        .prop_map(str::to_string)
}

fn action_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["*", "ecs:*", "ecs:Run*", "ecs:?topTask", "iam:GetUser", "ecs:List*"])
        .prop_map(str::to_string)
}

fn resource() -> impl Strategy<Value = String> {
    prop::sample::select(vec![TASK_DEF, CLUSTER, "arn:aws:iam::123456789012:user/alice"])
        .prop_map(str::to_string)
}

fn resource_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "arn:aws:ecs:*:*:*",
        "arn:aws:ecs:*:123456789012:cluster/*",
        "arn:aws:iam::*:user/${aws:username}",
    ])
    .prop_map(str::to_string)
}

fn condition() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        r#", "Condition": {"StringEquals": {"aws:username": "alice"}}"#,
        r#", "Condition": {"StringNotLike": {"aws:username": "b*"}}"#,
        r#", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        r#", "Condition": {"Null": {"aws:RequestTag/env": "false"}}"#,
    ])
    .prop_map(str::to_string)
}

fn statement(effect: &'static str) -> impl Strategy<Value = String> {
    (any::<bool>(), action_pattern(), resource_pattern(), condition()).prop_map(
        move |(not, action, resource, condition)| {
            let key = if not { "NotAction" } else { "Action" };
            format!(r#"{{"Effect": "{effect}", "{key}": "{action}", "Resource": "{resource}"{condition}}}"#)
        },
    )
}

fn statements() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![statement("Allow"), statement("Deny")], 1..5)
}

fn world() -> impl Strategy<Value = Context> {
    (
        prop::sample::select(vec!["alice", "bob"]),
        prop::sample::select(vec!["10.1.2.3", "192.168.1.1"]),
    )
        .prop_map(|(user, ip)| Context::new().with("aws:username", user).with("aws:SourceIp", ip))
}

proptest! {
    #[test]
    fn an_explicit_deny_always_wins(
        existing in statements(), action in action(), resource in resource(), ctx in world(),
    ) {
        let p = policy(&format!("[{}]", existing.join(",")));
        let deny = policy(r#"{"Effect": "Deny", "Action": "*", "Resource": "*"}"#);
        prop_assert_eq!(decide(&[&p, &deny], &action, &resource, &ctx), Decision::ExplicitDeny);
        prop_assert_eq!(decide(&[&deny, &p], &action, &resource, &ctx), Decision::ExplicitDeny);
    }

    #[test]
    fn adding_an_allow_never_removes_access(
        existing in statements(), added in statement("Allow"),
        action in action(), resource in resource(), ctx in world(),
    ) {
        let before = policy(&format!("[{}]", existing.join(",")));
        let after = policy(&format!("[{},{added}]", existing.join(",")));
        let was = decide(&[&before], &action, &resource, &ctx);
        let is = decide(&[&after], &action, &resource, &ctx);
        if was == Decision::Allow {
            prop_assert_eq!(is, Decision::Allow);
        }
        // And a deny stays a deny.
        if was == Decision::ExplicitDeny {
            prop_assert_eq!(is, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn glob_star_matches_any_infix(prefix in "[a-z]{0,4}", middle in "[a-z:/]{0,6}", suffix in "[a-z]{0,4}") {
        let text = format!("{prefix}{middle}{suffix}");
        let pattern = format!("{prefix}*{suffix}");
        prop_assert!(crate::matching::glob(&pattern, &text, false));
    }
}

#[test]
fn the_keys_read_are_those_of_the_statements_an_action_can_meet() {
    let policy = Policy::parse(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "arn:aws:ecs:*:*:task-definition/${aws:PrincipalTag/Team}-*",
             "Condition": {"ArnEquals": {"ecs:Cluster": "arn:aws:ecs:*:*:cluster/${aws:username}"}}},
            {"Effect": "Deny", "NotAction": "ecs:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
        ]}"#,
    )
    .expect("policy");
    let mut keys = crate::keys_read(&[&policy], "ecs:RunTask");
    keys.sort();
    assert_eq!(keys, ["aws:principaltag/team", "aws:username", "ecs:cluster"]);
    let mut keys = crate::keys_read(&[&policy], "logs:GetLogEvents");
    keys.sort();
    assert_eq!(keys, ["aws:securetransport", "aws:sourceip"]);
}

proptest! {
    /// A policy cut to the statements that take an action decides that action as the whole
    /// policy does, whatever the resource and context.
    #[test]
    fn a_policy_cut_to_an_action_decides_as_the_whole(
        action in prop::sample::select(vec!["ecs:RunTask", "ecs:ListClusters", "logs:GetLogEvents", "iam:PassRole"]),
        resource in prop::sample::select(vec!["*", "arn:aws:ecs:us-east-1:1:cluster/prod", "arn:aws:logs:us-east-1:1:log-group:x"]),
        tagged in any::<bool>(),
    ) {
        let policy = Policy::parse(r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:*", "logs:Get*"], "Resource": "*"},
            {"Effect": "Deny", "NotAction": "ecs:List*", "Resource": "arn:aws:ecs:*:*:cluster/prod",
             "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}
        ]}"#).expect("policy");
        let context = if tagged { Context::new().with("aws:RequestTag/env", "prod") } else { Context::new() };
        let request = Request { action, resource, principal: None, context: &context };
        let cut = policy.for_action(action);
        prop_assert_eq!(evaluate(&[&policy], &request), evaluate(&[&cut], &request));
    }
}
