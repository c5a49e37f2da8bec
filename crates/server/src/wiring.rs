//! The links between services, each a trait its consumer owns: ECS hands agents' container
//! output to CloudWatch Logs ([`flotilla_ecs::LogSink`]) and its figures to CloudWatch metrics
//! ([`flotilla_ecs::FigureSink`]).

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

pub struct CloudWatchSink(pub Arc<flotilla_cloudwatch::App>);

impl FigureSink for CloudWatchSink {
    fn record(&self, at: f64, points: Vec<(SeriesKey, StatSet)>) {
        self.0.metrics.record(at, points);
    }
}
