//! Nothing acknowledged is ever lost: kill -9 in the middle of a stream of writes, restart, and
//! every write that was answered 200 is there.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::ContainerDefinition;

use crate::support::Flotilla;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let mut f = Flotilla::start();
    let ecs = f.ecs();
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, i32)>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let ecs = ecs.clone();
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            let family = format!("fam{w}");
            // Stops at the first failure: the server is gone.
            for i in 0.. {
                let result = ecs
                    .register_task_definition()
                    .family(&family)
                    .container_definitions(
                        ContainerDefinition::builder()
                            .name("c")
                            .image(format!("img:{i}"))
                            .memory(16)
                            .build(),
                    )
                    .send()
                    .await;
                match result {
                    Ok(out) => {
                        let revision = out.task_definition().map_or(0, |t| t.revision());
                        acknowledged.lock().expect("lock").push((family.clone(), revision));
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    // Let a few hundred writes through, then pull the plug mid-stream.
    while acknowledged.lock().expect("lock").len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    f.kill9();
    for writer in writers {
        writer.await.expect("writer");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= 300);

    f.kill9_and_restart();
    let ecs = f.ecs();
    for (family, revision) in &acknowledged {
        let out = ecs
            .describe_task_definition()
            .task_definition(format!("{family}:{revision}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {family}:{revision} lost: {e:?}"));
        assert_eq!(out.task_definition().map(|t| t.revision()), Some(*revision));
    }
    // Revision numbering carries on without gaps or reuse after the crash.
    for w in 0..8 {
        let family = format!("fam{w}");
        let highest =
            acknowledged.iter().filter(|(f, _)| *f == family).map(|(_, r)| *r).max().unwrap_or(0);
        let listed = ecs.list_task_definitions().family_prefix(&family).send().await.expect("list");
        let count = listed.task_definition_arns().len() as i32;
        // Writes that were in flight at the kill may or may not have landed, but never half.
        assert!(count >= highest, "{family}: {count} stored, {highest} acknowledged");
        let next = ecs
            .register_task_definition()
            .family(&family)
            .container_definitions(
                ContainerDefinition::builder().name("c").image("after").memory(16).build(),
            )
            .send()
            .await
            .expect("register after restart");
        assert_eq!(next.task_definition().map(|t| t.revision()), Some(count + 1));
    }
}

#[tokio::test]
async fn state_survives_a_clean_restart() {
    let mut f = Flotilla::start();
    let before = f.root_key();
    f.ecs().create_cluster().cluster_name("kept").send().await.expect("create");
    f.terminate();
    f.kill9_and_restart();
    assert_eq!(f.root_key(), before, "the root key is kept across restarts");
    let out = f.ecs().describe_clusters().clusters("kept").send().await.expect("describe");
    assert_eq!(out.clusters()[0].status(), Some("ACTIVE"));
}
