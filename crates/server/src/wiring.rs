//! The links between services, each a trait its consumer owns: ECS hands agents' container
//! output to CloudWatch Logs ([`flotilla_ecs::LogSink`]) and its figures to CloudWatch metrics
//! ([`flotilla_ecs::FigureSink`]); EC2 learns the region's zones from ECS's agents
//! ([`flotilla_ec2::ZoneSource`]).

use std::sync::Arc;

use flotilla_api::agent::{LogBatch, LogBatchReply};
use flotilla_api::datapoint::{SeriesKey, StatSet};
use flotilla_ecs::{BoxFuture, FigureSink, LogSink};

pub struct LogsSink(pub Arc<flotilla_logs::App>);

impl LogSink for LogsSink {
    fn store(&self, batch: LogBatch, now_ms: i64) -> BoxFuture<'_, Result<LogBatchReply, String>> {
        Box::pin(async move {
            flotilla_logs::agent_batches::store(&self.0.logs, batch, now_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn missing_groups(&self, groups: Vec<String>) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            flotilla_logs::agent_batches::missing_groups(&self.0.logs, groups)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// EC2's availability zones are where ECS's agents are.
pub struct EcsZones(pub Arc<flotilla_ecs::App>);

impl flotilla_ec2::ZoneSource for EcsZones {
    fn zones(&self) -> Vec<String> {
        flotilla_ecs::availability_zones(&self.0)
    }
}

pub struct CloudWatchSink(pub Arc<flotilla_cloudwatch::App>);

impl FigureSink for CloudWatchSink {
    fn record(&self, at: f64, points: Vec<(SeriesKey, StatSet)>) {
        self.0.metrics.record(at, points);
    }
}
