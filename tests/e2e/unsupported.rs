//! Members of botocore's model that this server does not honour yet are refused by name with
//! InvalidParameterException, and a refused request stores nothing: nothing is accepted and
//! ignored.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    ContainerDefinition, ContainerInstanceField, ContainerOverride, DeploymentConfiguration,
    DeploymentStrategy, LoadBalancer, ResourceRequirement, ResourceType, TaskOverride,
};

use crate::support::Flotilla;

/// Asserts a refusal that names `member`.
fn refused<E: ProvideErrorMetadata + std::fmt::Debug>(error: E, member: &str) {
    assert_eq!(error.code(), Some("InvalidParameterException"), "{error:?}");
    let message = error.message().unwrap_or_default();
    assert!(
        message.contains(member) && message.contains("not supported yet"),
        "the refusal should name {member}: {message}"
    );
}

async fn register(ecs: &aws_sdk_ecs::Client, family: &str) {
    ecs.register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder().name("web").image("flotilla/demo").memory(32).build(),
        )
        .send()
        .await
        .expect("register");
}

#[tokio::test]
async fn services_refuse_what_they_would_ignore_and_store_nothing() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    register(&ecs, "web").await;

    let error = ecs
        .create_service()
        .service_name("with-lb")
        .task_definition("web")
        .load_balancers(
            // Target groups are served; Classic Load Balancers are not.
            LoadBalancer::builder()
                .container_name("web")
                .container_port(80)
                .load_balancer_name("classic")
                .build(),
        )
        .send()
        .await
        .expect_err("a Classic Load Balancer cannot be honoured")
        .into_service_error();
    refused(error, "loadBalancers[].loadBalancerName");
    let error = ecs
        .create_service()
        .service_name("blue-green")
        .task_definition("web")
        .deployment_configuration(
            DeploymentConfiguration::builder().strategy(DeploymentStrategy::BlueGreen).build(),
        )
        .send()
        .await
        .expect_err("blue/green deployments do not exist yet")
        .into_service_error();
    refused(error, "deploymentConfiguration.strategy");
    let listed = ecs.list_services().send().await.expect("list");
    assert!(listed.service_arns().is_empty(), "a refused creation stored {listed:?}");

    ecs.create_service()
        .service_name("plain")
        .task_definition("web")
        .desired_count(0)
        .send()
        .await
        .expect("a service with what is honoured");
    let error = ecs
        .update_service()
        .service("plain")
        .desired_count(3)
        .deployment_configuration(
            // A bake time belongs to blue/green, linear and canary deployments: not yet.
            DeploymentConfiguration::builder().bake_time_in_minutes(5).build(),
        )
        .send()
        .await
        .expect_err("a bake time cannot be honoured yet")
        .into_service_error();
    refused(error, "deploymentConfiguration.bakeTimeInMinutes");
    let described = ecs.describe_services().services("plain").send().await.expect("describe");
    let service = &described.services()[0];
    assert_eq!(service.desired_count(), 0, "the refused update changed the service");
    assert!(service.load_balancers().is_empty() && service.service_registries().is_empty());
    assert!(!service.enable_execute_command());
}

#[tokio::test]
async fn tasks_and_instances_refuse_what_they_would_ignore() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    register(&ecs, "web").await;

    let error = ecs
        .run_task()
        .task_definition("web")
        .enable_execute_command(true)
        .send()
        .await
        .expect_err("ECS Exec does not exist yet")
        .into_service_error();
    refused(error, "enableExecuteCommand");
    let gpu = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name("web")
                .resource_requirements(
                    ResourceRequirement::builder()
                        .r#type(ResourceType::Gpu)
                        .value("1")
                        .build()
                        .expect("requirement"),
                )
                .build(),
        )
        .build();
    let error = ecs
        .run_task()
        .task_definition("web")
        .overrides(gpu)
        .send()
        .await
        .expect_err("GPUs are not scheduled yet")
        .into_service_error();
    refused(error, "resourceRequirements");
    let error = ecs
        .list_tasks()
        .daemon_name("node-exporter")
        .send()
        .await
        .expect_err("managed daemons do not exist")
        .into_service_error();
    refused(error, "daemonName");
    let stopped = ecs.list_tasks().desired_status("STOPPED".into()).send().await.expect("list");
    let running = ecs.list_tasks().send().await.expect("list");
    assert!(stopped.task_arns().is_empty() && running.task_arns().is_empty());

    let error = ecs
        .describe_container_instances()
        .container_instances("0123456789abcdef0123456789abcdef")
        .include(ContainerInstanceField::ContainerInstanceHealth)
        .send()
        .await
        .expect_err("instance health is not reported yet")
        .into_service_error();
    refused(error, "CONTAINER_INSTANCE_HEALTH");
}
