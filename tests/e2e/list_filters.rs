//! The List operations' selectors each narrow what comes back, and their pages add up to the
//! whole: ListServices (launch type, scheduling strategy, resource management type, pages),
//! ListTasks (service name, desired status, launch type, pages) and ListContainerInstances
//! (status, pages), on hollow instances.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    ContainerDefinition, ContainerInstanceStatus, DesiredStatus, LaunchType,
    ResourceManagementType, SchedulingStrategy,
};

use crate::support::{registered_instances, Flotilla, HollowAgents};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_selectors_narrow_and_pages_add_up() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = HollowAgents::start(&f, "default", 3);
    let instances = registered_instances(&ecs, "default", 3).await;
    ecs.register_task_definition()
        .family("lists")
        .container_definitions(
            ContainerDefinition::builder().name("c").image("x").memory(16).build(),
        )
        .send()
        .await
        .expect("register");
    for name in ["a", "b", "c"] {
        ecs.create_service()
            .service_name(name)
            .task_definition("lists")
            .desired_count(0)
            .send()
            .await
            .expect("create service");
    }
    ecs.create_service()
        .service_name("everywhere")
        .task_definition("lists")
        .scheduling_strategy(SchedulingStrategy::Daemon)
        .send()
        .await
        .expect("create daemon");

    // ListServices.
    let services = |page: aws_sdk_ecs::operation::list_services::ListServicesOutput| {
        page.service_arns()
            .iter()
            .map(|a| a.rsplit('/').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let daemons = ecs.list_services().scheduling_strategy(SchedulingStrategy::Daemon).send().await;
    assert_eq!(services(daemons.expect("daemons")), ["everywhere"]);
    let replicas =
        ecs.list_services().scheduling_strategy(SchedulingStrategy::Replica).send().await;
    assert_eq!(services(replicas.expect("replicas")).len(), 3);
    let ec2 = ecs.list_services().launch_type(LaunchType::Ec2).send().await;
    assert_eq!(services(ec2.expect("ec2")).len(), 4);
    for other in [LaunchType::Fargate, LaunchType::External, LaunchType::ManagedInstances] {
        let none = ecs.list_services().launch_type(other.clone()).send().await;
        assert!(services(none.expect("launch type")).is_empty(), "{other:?}");
    }
    let customer =
        ecs.list_services().resource_management_type(ResourceManagementType::Customer).send().await;
    assert_eq!(services(customer.expect("customer")).len(), 4);
    let managed =
        ecs.list_services().resource_management_type(ResourceManagementType::Ecs).send().await;
    assert!(services(managed.expect("ecs-managed")).is_empty());
    let first = ecs.list_services().max_results(3).send().await.expect("page 1");
    let token = first.next_token().expect("a second page").to_string();
    let second = ecs.list_services().max_results(3).next_token(token).send().await.expect("page 2");
    assert!(second.next_token().is_none());
    let all: HashSet<String> = services(first).into_iter().chain(services(second)).collect();
    assert_eq!(all.len(), 4);

    // ListTasks: the DAEMON service runs one task per instance; RunTask adds three more.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = ecs.list_tasks().service_name("everywhere").send().await.expect("list");
        if running.task_arns().len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon did not start its tasks");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ecs.run_task().task_definition("lists").count(3).send().await.expect("run");
    let everything = ecs.list_tasks().send().await.expect("all");
    assert_eq!(everything.task_arns().len(), 6);
    let ec2 = ecs.list_tasks().launch_type(LaunchType::Ec2).send().await.expect("ec2");
    assert_eq!(ec2.task_arns().len(), 6);
    let fargate = ecs.list_tasks().launch_type(LaunchType::Fargate).send().await.expect("fargate");
    assert!(fargate.task_arns().is_empty());
    let first = ecs.list_tasks().max_results(4).send().await.expect("page 1");
    let token = first.next_token().expect("a second page").to_string();
    let second = ecs.list_tasks().max_results(4).next_token(token).send().await.expect("page 2");
    let paged: HashSet<&String> = first.task_arns().iter().chain(second.task_arns()).collect();
    assert_eq!(paged.len(), 6);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending =
            ecs.list_tasks().desired_status(DesiredStatus::Pending).send().await.expect("pending");
        if pending.task_arns().is_empty() {
            break; // hollow tasks reach RUNNING: none is left desired RUNNING but not running
        }
        assert!(Instant::now() < deadline, "tasks stayed PENDING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // ListContainerInstances.
    ecs.update_container_instances_state()
        .container_instances(&instances[0])
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .expect("drain");
    let count = |status: ContainerInstanceStatus| {
        let ecs = ecs.clone();
        async move {
            let out = ecs.list_container_instances().status(status).send().await.expect("list");
            out.container_instance_arns().len()
        }
    };
    assert_eq!(count(ContainerInstanceStatus::Draining).await, 1);
    assert_eq!(count(ContainerInstanceStatus::Active).await, 2);
    for none in [
        ContainerInstanceStatus::Registering,
        ContainerInstanceStatus::Deregistering,
        ContainerInstanceStatus::RegistrationFailed,
    ] {
        assert_eq!(count(none.clone()).await, 0, "{none:?}");
    }
    let first = ecs.list_container_instances().max_results(2).send().await.expect("page 1");
    let token = first.next_token().expect("a second page").to_string();
    let second =
        ecs.list_container_instances().max_results(2).next_token(token).send().await.expect("2");
    assert_eq!(first.container_instance_arns().len() + second.container_instance_arns().len(), 3);
}
