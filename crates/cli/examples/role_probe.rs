//! `role_probe`: the official AWS SDK for Rust inside a task's container, as users run it. It
//! takes its credentials from aws-config's default chain (which finds ECS's container
//! credentials endpoint through `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`), calls ECS at
//! `$FLOTILLA_ENDPOINT` with them, and prints one JSON line: each call's outcome (`ok` or the
//! error code) and the key it signed with. Built by `cargo test` (examples are) and mounted
//! into a demo-image container by `tests/e2e/task_roles.rs`.

use aws_config::BehaviorVersion;
use aws_sdk_ecs::config::ProvideCredentials;
use aws_sdk_ecs::error::ProvideErrorMetadata;

fn outcome<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    result: Result<T, E>,
) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(error) => match error.code() {
            Some(code) => code.to_string(),
            // Not an answer of the service (the connection, the signing): say what it was.
            None => format!("{}", aws_sdk_ecs::error::DisplayErrorContext(&error)),
        },
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::var("FLOTILLA_ENDPOINT").unwrap_or_default();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    let key = match config.credentials_provider() {
        Some(provider) => match provider.provide_credentials().await {
            Ok(credentials) => credentials.access_key_id().to_string(),
            Err(error) => format!("no credentials: {error}"),
        },
        None => "no credentials provider".to_string(),
    };
    let ecs = aws_sdk_ecs::Client::new(&config);
    let list = outcome(ecs.list_clusters().send().await);
    let describe = outcome(ecs.describe_clusters().send().await);
    println!(
        "{}",
        serde_json::json!({"AccessKeyId": key, "ListClusters": list, "DescribeClusters": describe})
    );
}
