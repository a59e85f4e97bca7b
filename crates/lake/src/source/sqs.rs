//! An SQS queue (the SQS sink's, or one subscribed to the SNS sink's topic): messages are
//! received with long polling and deleted once their batch is in bronze; one not deleted comes
//! back after its visibility timeout.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cart_events::sink::AwsTarget;
use cart_events::sink::aws::SqsQueue;

use super::{Source, source_error};
use crate::LakeError;

/// How long a received message stays invisible to others: longer than a batch takes to write.
const VISIBILITY: Duration = Duration::from_secs(300);

/// Reads an SQS queue.
pub struct SqsSource {
    queue: SqsQueue,
    pending: Vec<String>,
}

impl SqsSource {
    /// A consumer of the queue `target` names.
    pub async fn open(target: &AwsTarget) -> Self {
        Self {
            queue: SqsQueue::connect(target).await,
            pending: Vec::new(),
        }
    }
}

#[async_trait]
impl Source for SqsSource {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Bytes>, LakeError> {
        let mut events = Vec::new();
        let mut wait = wait;
        // SQS hands out at most 10 messages a call; later calls of the batch do not wait.
        while events.len() < max {
            let messages = self
                .queue
                .receive(wait, VISIBILITY)
                .await
                .map_err(source_error)?;
            if messages.is_empty() {
                break;
            }
            for message in messages {
                events.push(Bytes::from(message.envelope));
                self.pending.push(message.receipt);
            }
            wait = Duration::ZERO;
        }
        Ok(events)
    }

    async fn acknowledge(&mut self) -> Result<(), LakeError> {
        for receipt in self.pending.drain(..) {
            self.queue.delete(&receipt).await.map_err(source_error)?;
        }
        Ok(())
    }
}
