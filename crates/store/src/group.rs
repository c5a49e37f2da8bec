//! Group commit, one implementation for every writer (the embedded store's, the log store's,
//! ECS's state writer): the first queued job is waited for, then every job already queued
//! joins it, up to a number of jobs and a total weight (a log batch weighs its events), and the
//! group is committed at once — one fsync for all of them, so durable throughput grows with
//! concurrency instead of being capped at one job per fsync. A job that would overflow the
//! group is kept for the next one, never dropped or reordered.

use std::thread;

use tokio::sync::mpsc;

/// How big one group may grow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// At most this many jobs.
    pub jobs: usize,
    /// At most this total weight (a single heavier job still makes a group of its own).
    pub weight: usize,
}

/// Queued jobs, taken in groups.
pub struct Groups<J> {
    receiver: mpsc::UnboundedReceiver<J>,
    limits: Limits,
    weight: fn(&J) -> usize,
    /// A job that did not fit the last group: the first of the next.
    held: Option<J>,
}

impl<J> Groups<J> {
    pub fn new(
        receiver: mpsc::UnboundedReceiver<J>,
        limits: Limits,
        weight: fn(&J) -> usize,
    ) -> Self {
        Groups { receiver, limits, weight, held: None }
    }

    /// Jobs weighing one each.
    pub fn counted(receiver: mpsc::UnboundedReceiver<J>, jobs: usize) -> Self {
        Groups::new(receiver, Limits { jobs, weight: usize::MAX }, |_| 1)
    }

    /// The next group, waiting for its first job on this thread; `None` once every sender
    /// is gone and nothing is left.
    pub fn blocking_next(&mut self) -> Option<Vec<J>> {
        let first = match self.held.take() {
            Some(job) => job,
            None => self.receiver.blocking_recv()?,
        };
        Some(self.fill(first))
    }

    /// The next group, waiting for its first job; `None` once every sender is gone and nothing
    /// is left.
    pub async fn next(&mut self) -> Option<Vec<J>> {
        let first = match self.held.take() {
            Some(job) => job,
            None => self.receiver.recv().await?,
        };
        Some(self.fill(first))
    }

    fn fill(&mut self, first: J) -> Vec<J> {
        let mut weight = (self.weight)(&first);
        let mut group = vec![first];
        while group.len() < self.limits.jobs && weight < self.limits.weight {
            let Ok(job) = self.receiver.try_recv() else { break };
            let more = (self.weight)(&job);
            if weight.saturating_add(more) > self.limits.weight {
                self.held = Some(job);
                break;
            }
            weight += more;
            group.push(job);
        }
        group
    }
}

/// Runs `commit` on each group, on a thread of its own named `name` (databases whose commits
/// block: redb's), until every sender is gone; `commit` answers the group's jobs.
pub fn spawn_writer<J: Send + 'static>(
    name: &str,
    mut groups: Groups<J>,
    mut commit: impl FnMut(Vec<J>) + Send + 'static,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name(name.into()).spawn(move || {
        while let Some(group) = groups.blocking_next() {
            commit(group);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_take_what_is_queued_up_to_their_limits_in_order() {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut groups = Groups::new(receiver, Limits { jobs: 3, weight: 10 }, |w: &usize| *w);
        for weight in [4, 4, 4, 1, 20, 1] {
            sender.send(weight).expect("send");
        }
        drop(sender);
        assert_eq!(groups.next().await, Some(vec![4, 4]), "a third 4 would weigh 12");
        assert_eq!(groups.next().await, Some(vec![4, 1]), "the held job leads the next group");
        assert_eq!(groups.next().await, Some(vec![20]), "a heavy job alone");
        assert_eq!(groups.next().await, Some(vec![1]));
        assert_eq!(groups.next().await, None);
    }

    #[test]
    fn a_writer_thread_commits_every_group_and_ends_with_its_senders() {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (done, seen) = std::sync::mpsc::channel();
        let writer = spawn_writer("test-writer", Groups::counted(receiver, 2), move |group| {
            let _ = done.send(group);
        })
        .expect("thread");
        for n in 0..5 {
            sender.send(n).expect("send");
        }
        drop(sender);
        writer.join().expect("the writer ends");
        let all: Vec<i32> = seen.try_iter().flatten().collect();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }
}
