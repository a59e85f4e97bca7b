//! Reading an SQS queue: what the order worker consumes when the relay's events reach it through
//! SNS (a queue subscribed to the topic) or straight from the SQS sink. Messages are received
//! with long polling, deleted once handled, or made visible again after a delay (a retry).

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::sdk_config;
use crate::sink::AwsTarget;

/// An SQS queue to consume.
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The envelope's JSON: the body, or the `Message` of an SNS notification wrapping it (a
    /// subscription without raw message delivery).
    pub envelope: String,
    /// What deletes it or changes its visibility.
    pub receipt: String,
    /// How many times SQS has handed it out (1 the first time).
    pub receive_count: u32,
}

impl SqsQueue {
    /// A consumer of the queue `target` names.
    pub async fn connect(target: &AwsTarget) -> Self {
        Self {
            client: Client::new(&sdk_config(target).await),
            queue_url: target.target.clone(),
        }
    }

    /// Up to 10 messages, waiting up to `wait` for the first; each is invisible to other
    /// consumers for `visibility`.
    pub async fn receive(
        &self,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, String> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(seconds(wait).min(20))
            .visibility_timeout(seconds(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| format!("receive from {}: {e:?}", self.queue_url))?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                Some(QueueMessage {
                    envelope: unwrap_notification(message.body()?),
                    receipt: message.receipt_handle()?.to_owned(),
                    receive_count,
                })
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&self, receipt: &str) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("delete from {}: {e:?}", self.queue_url))
    }

    /// Makes a message visible again after `after` (at most SQS's 12 hours): a retry then.
    pub async fn retry_after(&self, receipt: &str, after: Duration) -> Result<(), String> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(after).min(43_200))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("change visibility in {}: {e:?}", self.queue_url))
    }
}

/// Whole seconds, as the SQS API takes them (rounded up, so a short pause is not zero).
fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).unwrap_or(i32::MAX)
}

/// The envelope in a message body: an SNS notification's `Message`, or the body itself.
pub fn unwrap_notification(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Notification {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Message")]
        message: String,
    }
    match serde_json::from_str::<Notification>(body) {
        Ok(notification) if notification.kind == "Notification" => notification.message,
        _ => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sns_notification_is_unwrapped_and_a_raw_body_kept() {
        let envelope = r#"{"type":"order.paid"}"#;
        let notification = serde_json::json!({"Type": "Notification", "Message": envelope,
                                              "TopicArn": "arn:aws:sns:us-east-1:1:t"})
        .to_string();
        assert_eq!(unwrap_notification(&notification), envelope);
        assert_eq!(unwrap_notification(envelope), envelope);
        assert_eq!(unwrap_notification("not json"), "not json");
    }

    #[test]
    fn pauses_round_up_to_whole_seconds() {
        assert_eq!(seconds(Duration::from_millis(100)), 1);
        assert_eq!(seconds(Duration::from_secs(2)), 2);
        assert_eq!(seconds(Duration::ZERO), 0);
    }
}
